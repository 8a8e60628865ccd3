"""mail: the notifications sent once (overdue requests, breach clocks)

Revision ID: 0007_mail
Revises: 0006_plugins
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import flask_avg.core.types


revision = '0007_mail'
down_revision = '0006_plugins'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('avg_mail_sent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('sent_at', flask_avg.core.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avg_mail_sent')),
    sa.UniqueConstraint('topic', 'ref', 'event', name=op.f('uq_avg_mail_sent_topic_ref_event'))
    )


def downgrade() -> None:
    op.drop_table('avg_mail_sent')
