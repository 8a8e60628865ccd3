"""flask-avg's own tables, created in the host's database through the host's ``db``.

They hang off a metadata of their own (every name starts with ``avg_``) so the
host's models and migrations stay the host's. Rows refer to subjects and users
by their key as text, without a foreign key: an audit entry must outlive the
member it speaks of.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Index,
    Integer,
    MetaData,
    String,
    Text,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_avg.core.types import BigId, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AvgBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Setting(AvgBase):
    """A board-editable option (retention days, field edit rights, ...), stored as JSON."""

    __tablename__ = "avg_setting"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(64))

    @property
    def value(self) -> Any:
        return json.loads(self.value_json)


class AuditEntry(AvgBase):
    """Who did what to whose data: names and counts only, never the personal values."""

    __tablename__ = "avg_audit_log"
    __table_args__ = (Index("ix_avg_audit_log_subject_at", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    actor: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    subject: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(100))
    fields: Mapped[str | None] = mapped_column(Text)
    detail_json: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))
    #: the hash chain (:mod:`flask_avg.core.audit`): the previous entry's hash, and
    #: SHA-256 over it and this entry's canonical content
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    @property
    def field_list(self) -> list[str]:
        return self.fields.split(",") if self.fields else []

    @property
    def detail(self) -> dict[str, Any]:
        return json.loads(self.detail_json) if self.detail_json else {}


class AuditChainLock(AvgBase):
    """One row every audit append updates first (to itself: the row never changes), so
    appends take turns and two writers never link to the same previous entry."""

    __tablename__ = "avg_audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(mapper: Any, connection: Any, target: AuditEntry) -> None:
    raise AuditLogIsAppendOnly(
        "audit entries cannot be changed or deleted one by one; "
        "old entries leave only through the audited log purge"
    )


class ExternalErasure(AvgBase):
    """An erasure a plugin still owes outside the database (files, a mailing service).

    Written in the erasure's own transaction, so a committed erasure always
    leaves its external work behind; the row goes once the plugin succeeded.
    ``attempts`` and ``last_error`` show the board what failed.
    """

    __tablename__ = "avg_external_erasure"
    __table_args__ = (Index("ix_avg_external_erasure_plugin", "plugin", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plugin: Mapped[str] = mapped_column(String(100), nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
