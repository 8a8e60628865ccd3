"""guardians: which login account may act for which subject (a child); requests from
people without an account

Revision ID: 0009_guardians
Revises: 0008_requests
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0009_guardians'
down_revision = '0008_requests'
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
    op.create_table('avg_public_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('field', sa.String(length=200), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('nonce', sa.String(length=64), nullable=True),
    sa.Column('subjects', sa.String(length=2000), nullable=True),
    sa.Column('requests', sa.String(length=2000), nullable=True),
    sa.Column('download_nonce', sa.String(length=64), nullable=True),
    sa.Column('download_file', sa.String(length=200), nullable=True),
    sa.Column('download_expires', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('verified_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('done_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_public_request'))
    )
    op.create_index('ix_avg_public_request_client_hash', 'avg_public_request', ['client_hash', 'created_at'], unique=False)
    op.create_index('ix_avg_public_request_email_hash', 'avg_public_request', ['email_hash', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_avg_public_request_email_hash', table_name='avg_public_request')
    op.drop_index('ix_avg_public_request_client_hash', table_name='avg_public_request')
    op.drop_table('avg_public_request')
    op.drop_index('ix_avg_guardian_subject', table_name='avg_guardian')
    op.drop_index('ix_avg_guardian_guardian', table_name='avg_guardian')
    op.drop_table('avg_guardian')
