"""crypto: the audit log's hash chain and the row its appends take turns on

Revision ID: 0010_crypto
Revises: 0009_guardians
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_crypto'
down_revision = '0009_guardians'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('avg_audit_chain',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_audit_chain'))
    )
    with op.batch_alter_table('avg_audit_log') as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('avg_audit_log') as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
    op.drop_table('avg_audit_chain')
