"""The erasure ledger and the purge lock: flask-avg's own tables for the engine.

The ledger says *that* something was erased (model, key, action, time), never
what it held, so it may outlive the data and be exported for replay after a
backup restore.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
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
