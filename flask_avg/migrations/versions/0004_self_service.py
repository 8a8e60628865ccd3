"""self-service: data-subject requests and processing limits

Revision ID: 0004_self_service
Revises: 0003_retention
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0004_self_service'
down_revision = '0003_retention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('avg_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('field', sa.String(length=200), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('open_key', sa.String(length=4), nullable=True),
    sa.Column('received_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('deadline', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('handled_by', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('result_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_request')),
    sa.UniqueConstraint('subject', 'kind', 'open_key', name=op.f('uq_avg_request_subject_kind_open_key'))
    )
    with op.batch_alter_table('avg_request', schema=None) as batch_op:
        batch_op.create_index('ix_avg_request_status_deadline', ['status', 'deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_avg_request_subject'), ['subject'], unique=False)

    op.create_table('avg_processing_limit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('since', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('lifted_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_processing_limit'))
    )
    with op.batch_alter_table('avg_processing_limit', schema=None) as batch_op:
        batch_op.create_index('ix_avg_processing_limit_subject_kind', ['subject', 'kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('avg_processing_limit', schema=None) as batch_op:
        batch_op.drop_index('ix_avg_processing_limit_subject_kind')
    op.drop_table('avg_processing_limit')
    with op.batch_alter_table('avg_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_avg_request_subject'))
        batch_op.drop_index('ix_avg_request_status_deadline')
    op.drop_table('avg_request')
