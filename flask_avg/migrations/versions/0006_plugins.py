"""plugins: external erasures a plugin still owes after the database commit

Revision ID: 0006_plugins
Revises: 0005_accountability
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0006_plugins'
down_revision = '0005_accountability'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('avg_external_erasure',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('plugin', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('created_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_attempt_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_external_erasure'))
    )
    op.create_index('ix_avg_external_erasure_plugin', 'avg_external_erasure', ['plugin', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_avg_external_erasure_plugin', table_name='avg_external_erasure')
    op.drop_table('avg_external_erasure')
