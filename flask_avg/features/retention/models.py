"""The erasure ledger and the purge lock: flask-avg's own tables for the engine.

The ledger says *that* something was erased (model, key, action, time), never
what it held, so it may outlive the data and be exported for replay after a
backup restore.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.models import AvgBase
from flask_avg.core.types import BigId, UTCDateTime, utcnow


class LedgerEntry(AvgBase):
    """One erased subject or login account: ``model`` name, ``key`` as text, ``action``."""

    __tablename__ = "avg_erasure_ledger"
    __table_args__ = (Index("ix_avg_erasure_ledger_model_key", "model", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    #: "deleted" or "anonymised"
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    #: "request", "retention", "stale" or "replay"
    reason: Mapped[str] = mapped_column(String(16), nullable=False)


class PurgeLock(AvgBase):
    """The purge lock on SQLite (servers use advisory / named locks instead)."""

    __tablename__ = "avg_purge_lock"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PurgeRun(AvgBase):
    """One retention purge: who started it, when, how far it got and what it did.

    Written by every real purge (dry runs and previews leave no row), committed
    with each batch, so the retention page and the dashboard read the progress
    and the outcome from the database, whichever process runs the purge.
    """

    __tablename__ = "avg_purge_run"
    __table_args__ = (Index("ix_avg_purge_run_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: when the run was asked for (the board's button) or began (cron)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    #: last progress written (every batch): a "running" row whose beat stopped was cut off
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "scheduled" (the command, from cron), "board" (the button) or "api" (host code)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    #: account key of whoever pressed the button; None for cron
    actor: Mapped[str | None] = mapped_column(String(64))
    #: "queued", "running", "done", "failed" or "skipped" (another purge held the lock)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    #: rows changed so far and the estimate of all rows the run will change
    done_rows: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_rows: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    batches: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    #: per category: {"deleted": n, "anonymised": n, "kept": n}, and the audit/stale counts
    counts_json: Mapped[str | None] = mapped_column(Text)
    #: the exception's class name and message, cut short (never personal data)
    error: Mapped[str | None] = mapped_column(String(200))
