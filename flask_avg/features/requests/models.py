"""The request and processing-limit tables, with the kinds and states of a request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.models import AvgBase
from flask_avg.core.types import UTCDateTime, utcnow

ERASURE, RESTRICTION, OBJECTION, CORRECTION = "erasure", "restriction", "objection", "correction"
KINDS: dict[str, Any] = {
    ERASURE: _l("Erasure of my data"),
    RESTRICTION: _l("Restriction of processing"),
    OBJECTION: _l("Objection to a purpose"),
    CORRECTION: _l("Correction of a field I cannot change myself"),
}
RECEIVED, IN_PROGRESS, COMPLETED, REJECTED = "received", "in_progress", "completed", "rejected"
#: closed without a decision because the member's data was erased meanwhile
CLOSED = "closed"
#: request_event name when the board lifts a granted restriction or objection (Art. 18(3))
LIFTED = "lifted"
#: request_event name when the board extends the deadline (Art. 12(3): two more months)
EXTENDED = "extended"
#: the board's notification about an open request past its deadline (no state change)
OVERDUE = "overdue"
STATUSES: dict[str, Any] = {
    RECEIVED: _l("Received"),
    IN_PROGRESS: _l("In progress"),
    COMPLETED: _l("Completed"),
    REJECTED: _l("Rejected"),
    CLOSED: _l("Closed: data erased"),
}
OPEN = (RECEIVED, IN_PROGRESS)
#: allowed state changes
TRANSITIONS: dict[str, tuple[str, ...]] = {
    RECEIVED: (IN_PROGRESS, COMPLETED, REJECTED),
    IN_PROGRESS: (COMPLETED, REJECTED),
    COMPLETED: (),
    REJECTED: (),
    CLOSED: (),
}


class RequestError(ValueError):
    """A request that cannot be filed or a state change that is not allowed."""


#: how a request reached the club
ONLINE, PAPER, PHONE, IN_PERSON, EMAIL = "online", "paper", "phone", "in_person", "email"
CHANNELS: dict[str, Any] = {
    ONLINE: _l("On the website"),
    PAPER: _l("On paper (letter or form)"),
    PHONE: _l("By phone"),
    IN_PERSON: _l("In person"),
    EMAIL: _l("By e-mail"),
}
#: the channels the board records by hand
BOARD_CHANNELS = (PAPER, PHONE, IN_PERSON, EMAIL)
#: how the requester's identity was confirmed (Art. 12(2),(6))
IDENTITY_CHECKS: dict[str, Any] = {
    "account": _l("Logged in with their own account"),
    "email_verified": _l("Control of the e-mail address verified"),
    "id_document": _l("Identity document shown"),
    "known_person": _l("Known to the board in person"),
    "callback": _l("Called back on the number in the records of %(the_subject)s"),
    "signature": _l("Signature compared with the records of %(the_subject)s"),
    "other": _l("Other (see the note)"),
}
#: the checks a board member can choose when recording a request by hand
BOARD_IDENTITY_CHECKS = ("id_document", "known_person", "callback", "signature", "other")


def open_key_for(kind: str, field: str | None) -> str:
    """The key only open requests carry: one open request per kind, and per field
    for corrections (several fields may be corrected at once)."""
    return f"open:{field}" if kind == CORRECTION and field else "open"


class DataRequest(AvgBase):
    """One data-subject request. ``open_key`` is set while open (:func:`open_key_for`),
    NULL once closed."""

    __tablename__ = "avg_request"
    __table_args__ = (
        UniqueConstraint("subject", "kind", "open_key"),
        Index("ix_avg_request_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    purpose: Mapped[str | None] = mapped_column(String(200))
    field: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=RECEIVED)
    open_key: Mapped[str | None] = mapped_column(String(210), default="open")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text)
    #: a correction: the value the member asks for, as they typed it
    new_value: Mapped[str | None] = mapped_column(Text)
    #: how the request reached the club (:data:`CHANNELS`)
    channel: Mapped[str] = mapped_column(String(20), nullable=False, default=ONLINE)
    #: how the requester's identity was confirmed (:data:`IDENTITY_CHECKS`), and a note
    identity_check: Mapped[str] = mapped_column(String(40), nullable=False, default="account")
    identity_note: Mapped[str | None] = mapped_column(Text)
    #: the Art. 12(3) extension: when, and the reason the member was given
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and (now or utcnow()) > self.deadline

    @property
    def kind_label(self) -> Any:
        return KINDS.get(self.kind, self.kind)

    @property
    def channel_label(self) -> Any:
        return CHANNELS.get(self.channel, self.channel)

    @property
    def identity_label(self) -> Any:
        return IDENTITY_CHECKS.get(self.identity_check, self.identity_check)

    @property
    def status_label(self) -> Any:
        return STATUSES.get(self.status, self.status)

    @property
    def result(self) -> dict[str, Any]:
        """The erasure summary: ``{"removed": [{"model", "count", "reason"}], ...}``."""
        return json.loads(self.result_json) if self.result_json else {}


class ProcessingLimit(AvgBase):
    """A restriction (``purpose`` NULL) or an objection to one purpose; active while ``lifted_at`` is NULL."""

    __tablename__ = "avg_processing_limit"
    __table_args__ = (Index("ix_avg_processing_limit_subject_kind", "subject", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    purpose: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
