"""retention: erasure ledger and purge lock

Revision ID: 0003_retention
Revises: 0001_core
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import flask_avg.core.types

revision = "0003_retention"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "avg_erasure_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", flask_avg.core.types.UTCDateTime(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avg_erasure_ledger")),
    )
    op.create_index(
        "ix_avg_erasure_ledger_model_key", "avg_erasure_ledger", ["model", "key"], unique=False
    )
    op.create_table(
        "avg_purge_lock",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", flask_avg.core.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_avg_purge_lock")),
    )


def downgrade() -> None:
    op.drop_table("avg_purge_lock")
    op.drop_index("ix_avg_erasure_ledger_model_key", table_name="avg_erasure_ledger")
    op.drop_table("avg_erasure_ledger")
