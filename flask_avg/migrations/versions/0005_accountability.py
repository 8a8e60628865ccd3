"""accountability: consent purposes, texts, records and states; the breach register

Revision ID: 0005_accountability
Revises: 0004_self_service
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0005_accountability'
down_revision = '0004_self_service'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('avg_consent_purpose',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('expires_days', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_avg_consent_purpose'))
    )
    op.create_table('avg_consent_text',
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('first_used', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('purpose', 'text_hash', name=op.f('pk_avg_consent_text'))
    )
    op.create_table('avg_consent_record',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('given', sa.Boolean(), nullable=False),
    sa.Column('at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('expires_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_consent_record'))
    )
    op.create_index('ix_avg_consent_record_subject_purpose', 'avg_consent_record', ['subject', 'purpose'], unique=False)
    op.create_table('avg_consent',
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('given', sa.Boolean(), nullable=False),
    sa.Column('at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('record_id', BIGID, nullable=False),
    sa.Column('expires_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('reminded_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('subject', 'purpose', name=op.f('pk_avg_consent'))
    )
    op.create_index('ix_avg_consent_purpose_given', 'avg_consent', ['purpose', 'given'], unique=False)
    op.create_table('avg_breach',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('started_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('discovered_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('ended_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('nature', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('consequences', sa.Text(), nullable=False),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.Column('affected_count', sa.Integer(), nullable=True),
    sa.Column('affected_computed', sa.Boolean(), nullable=False),
    sa.Column('affected_filter_json', sa.Text(), nullable=True),
    sa.Column('expected_recovery', sa.Text(), nullable=False),
    sa.Column('measures_taken', sa.Text(), nullable=False),
    sa.Column('measures_planned', sa.Text(), nullable=False),
    sa.Column('ap_notified_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('ap_reference', sa.String(length=100), nullable=False),
    sa.Column('ap_not_required_reason', sa.Text(), nullable=False),
    sa.Column('people_notified_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('people_not_required_reason', sa.Text(), nullable=False),
    sa.Column('closed_at', flask_avg.core.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_breach'))
    )
    op.create_index('ix_avg_breach_discovered_at', 'avg_breach', ['discovered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_avg_breach_discovered_at', table_name='avg_breach')
    op.drop_table('avg_breach')
    op.drop_index('ix_avg_consent_purpose_given', table_name='avg_consent')
    op.drop_table('avg_consent')
    op.drop_index('ix_avg_consent_record_subject_purpose', table_name='avg_consent_record')
    op.drop_table('avg_consent_record')
    op.drop_table('avg_consent_text')
    op.drop_table('avg_consent_purpose')
