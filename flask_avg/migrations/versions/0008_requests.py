"""requests: corrections with a requested value, several open at once; the channel and
identity check of a request; the Art. 12(3) extension

Revision ID: 0008_requests
Revises: 0007_mail
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0008_requests'
down_revision = '0007_mail'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('avg_request', schema=None) as batch_op:
        batch_op.alter_column('open_key', existing_type=sa.String(length=4),
                              type_=sa.String(length=210), existing_nullable=True)
        batch_op.add_column(sa.Column('new_value', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=20), nullable=False,
                                      server_default='online'))
        batch_op.add_column(sa.Column('identity_check', sa.String(length=40), nullable=False,
                                      server_default='account'))
        batch_op.add_column(sa.Column('identity_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('extended_at', flask_avg.core.types.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('extension_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('avg_request', schema=None) as batch_op:
        batch_op.drop_column('extension_reason')
        batch_op.drop_column('extended_at')
        batch_op.drop_column('identity_note')
        batch_op.drop_column('identity_check')
        batch_op.drop_column('channel')
        batch_op.drop_column('new_value')
        batch_op.alter_column('open_key', existing_type=sa.String(length=210),
                              type_=sa.String(length=4), existing_nullable=True)
