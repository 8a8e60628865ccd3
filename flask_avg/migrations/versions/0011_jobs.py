"""jobs: background jobs with their result files; version stamps of per-process caches

Revision ID: 0011_jobs
Revises: 0010_crypto
Create Date: 2026-11-28
"""
import uuid

from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0011_jobs'
down_revision = '0010_crypto'
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamp = op.create_table('avg_stamp',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_avg_stamp'))
    )
    op.bulk_insert(stamp, [{'name': n, 'token': uuid.uuid4().hex} for n in ('acl', 'erasure')])
    op.create_table('avg_job',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('params_json', sa.Text(), nullable=False),
    sa.Column('result_path', sa.String(length=128), nullable=True),
    sa.Column('result_name', sa.String(length=128), nullable=True),
    sa.Column('result_type', sa.String(length=128), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('started_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('heartbeat_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('finished_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('expires_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_job'))
    )
    op.create_index(op.f('ix_avg_job_expires_at'), 'avg_job', ['expires_at'], unique=False)
    op.create_index(op.f('ix_avg_job_owner'), 'avg_job', ['owner'], unique=False)
    op.create_index(op.f('ix_avg_job_status'), 'avg_job', ['status'], unique=False)
    op.create_index(op.f('ix_avg_job_subject'), 'avg_job', ['subject'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_avg_job_subject'), table_name='avg_job')
    op.drop_index(op.f('ix_avg_job_status'), table_name='avg_job')
    op.drop_index(op.f('ix_avg_job_owner'), table_name='avg_job')
    op.drop_index(op.f('ix_avg_job_expires_at'), table_name='avg_job')
    op.drop_table('avg_job')
    op.drop_table('avg_stamp')
