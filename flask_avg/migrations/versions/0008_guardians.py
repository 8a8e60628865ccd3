"""guardians: which login account may act for which subject (a child)

Revision ID: 0008_guardians
Revises: 0007_mail
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0008_guardians'
down_revision = '0007_mail'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('avg_guardian',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('guardian', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=True),
    sa.Column('nonce', sa.String(length=64), nullable=True),
    sa.Column('created_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('accepted_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('ended_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_guardian'))
    )
    op.create_index('ix_avg_guardian_guardian', 'avg_guardian', ['guardian'], unique=False)
    op.create_index('ix_avg_guardian_subject', 'avg_guardian', ['subject'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_avg_guardian_subject', table_name='avg_guardian')
    op.drop_index('ix_avg_guardian_guardian', table_name='avg_guardian')
    op.drop_table('avg_guardian')
