"""retention: a row per purge run (status, progress, counts)

Revision ID: 0012_purge_runs
Revises: 0011_jobs
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

import flask_avg.core.types

revision = "0012_purge_runs"
down_revision = "0011_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "avg_purge_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", flask_avg.core.types.UTCDateTime(), nullable=False),
        sa.Column("beat_at", flask_avg.core.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", flask_avg.core.types.UTCDateTime(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("done_rows", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("counts_json", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avg_purge_run")),
    )
    op.create_index("ix_avg_purge_run_started_at", "avg_purge_run", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_avg_purge_run_started_at", table_name="avg_purge_run")
    op.drop_table("avg_purge_run")
