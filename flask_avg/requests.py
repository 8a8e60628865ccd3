"""Data-subject requests (Art. 15-21): erasure, restriction, objection, correction.

A member files a request while logged in; the board moves it through
``received -> in_progress -> completed | rejected`` before its deadline
(``AVG_REQUEST_DEADLINE_DAYS`` after receipt). At most one request per kind
is open per member, enforced by a unique key that only open requests carry.

Completing a request takes effect here: an erasure runs the erasure engine and
keeps a summary of what was removed, anonymised and retained (counts and legal
reasons only); a restriction marks the member restricted; an objection records
the purpose objected to. Hosts exclude such members from their own queries
with :func:`not_restricted` and :func:`not_objected`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import current_app, has_request_context
from flask_babel import force_locale
from sqlalchemy import (
    ColumnElement,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError, NoInspectionAvailable
from sqlalchemy.orm import Mapped, mapped_column

from .config import config_value
from .i18n import lazy_gettext as _l
from .models import AvgBase
from .signals import request_event
from .types import UTCDateTime, utcnow

ERASURE, RESTRICTION, OBJECTION, CORRECTION = "erasure", "restriction", "objection", "correction"
KINDS: dict[str, Any] = {
    ERASURE: _l("Erasure of my data"),
    RESTRICTION: _l("Restriction of processing"),
    OBJECTION: _l("Objection to a purpose"),
    CORRECTION: _l("Correction of a field I cannot change myself"),
}
RECEIVED, IN_PROGRESS, COMPLETED, REJECTED = "received", "in_progress", "completed", "rejected"
#: request_event name when the board lifts a granted restriction or objection (Art. 18(3))
LIFTED = "lifted"
STATUSES: dict[str, Any] = {
    RECEIVED: _l("Received"),
    IN_PROGRESS: _l("In progress"),
    COMPLETED: _l("Completed"),
    REJECTED: _l("Rejected"),
}
OPEN = (RECEIVED, IN_PROGRESS)
#: allowed state changes
TRANSITIONS: dict[str, tuple[str, ...]] = {
    RECEIVED: (IN_PROGRESS, COMPLETED, REJECTED),
    IN_PROGRESS: (COMPLETED, REJECTED),
    COMPLETED: (),
    REJECTED: (),
}


class RequestError(ValueError):
    """A request that cannot be filed or a state change that is not allowed."""


class DataRequest(AvgBase):
    """One data-subject request. ``open_key`` is "open" while open, NULL once closed."""

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
    open_key: Mapped[str | None] = mapped_column(String(4), default="open")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and (now or utcnow()) > self.deadline

    @property
    def kind_label(self) -> Any:
        return KINDS.get(self.kind, self.kind)

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


# -- host hooks --------------------------------------------------------------------


@dataclass
class Mail:
    """A notification about a request, for the host's mail hook.

    ``to`` is ``"member"`` or ``"board"``; ``user_id`` the member's login id
    (None for the board) and ``user`` the member's login user, for their
    address (after an erasure a read-only snapshot taken before it ran, since
    the account may be gone). ``subject_line`` and ``body`` are already
    translated and hold no personal values.
    """

    to: str
    user_id: str | None
    subject_line: str
    body: str
    request: DataRequest
    event: str
    user: Any = None


def default_mail_sender(mail: Mail) -> None:
    """Writes the notification to the app's log instead of sending it."""
    current_app.logger.info(
        "flask-avg mail to %s: %s (request %s, %s)",
        mail.to,
        mail.subject_line,
        mail.request.id,
        mail.event,
    )


def default_password_checker(user: Any, password: str) -> bool:
    """Checks ``password`` against the login user's ``password_hash`` (werkzeug)."""
    from werkzeug.security import check_password_hash

    stored = getattr(user, "password_hash", None)
    if not stored or not password:
        return False
    return check_password_hash(stored, password)


def check_password(state: Any, user: Any, password: str) -> bool:
    checker: Callable[[Any, str], bool] = (
        getattr(state.ext, "_password_checker", None) or default_password_checker
    )
    return bool(checker(user, password))


def erasure_lines(req: DataRequest) -> str:
    """The erasure summary as plain text: what was removed, anonymised and kept, and why."""
    from .i18n import gettext as _

    labels = {
        "removed": _("Removed"),
        "anonymised": _("Anonymised"),
        "retained": _("Retained"),
    }
    lines = []
    for part, label in labels.items():
        for item in req.result.get(part, []):
            line = f"{label}: {item['model']} ({item['count']})"
            if item.get("reason"):
                line += f" - {item['reason']}"
            lines.append(line)
    return "\n".join(lines)


def _send_mail(state: Any, mail: Mail) -> None:
    sender: Callable[[Mail], Any] = getattr(state.ext, "_mail_sender", None) or default_mail_sender
    sender(mail)


def login_user_of(req: DataRequest, *, snapshot: bool = False) -> Any:
    """The member's login user via Flask-Login's user loader; ``snapshot`` copies its columns."""
    manager = getattr(current_app, "login_manager", None)
    loader = getattr(manager, "_user_callback", None)
    if loader is None or req.user_id is None:
        return None
    user = loader(req.user_id)
    if user is None or not snapshot:
        return user
    try:
        attrs = sa_inspect(user).mapper.column_attrs
    except NoInspectionAvailable:
        return user
    return SimpleNamespace(**{a.key: getattr(user, a.key) for a in attrs})


def notify(state: Any, req: DataRequest, event: str, *, user: Any = None) -> None:
    """Signal ``request_event`` and hand the member and the board a notification."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    request_event.send(app, request=req, event=event)
    if user is None:
        user = login_user_of(req)
    if has_request_context():
        _notify(state, req, event, user)
    else:  # CLI or a worker: write in the club's default language
        with force_locale(config_value("DEFAULT_LOCALE")):
            _notify(state, req, event, user)


def _notify(state: Any, req: DataRequest, event: str, user: Any) -> None:
    from .i18n import gettext as _

    kind = str(req.kind_label)
    texts = {
        LIFTED: (
            _("The restriction or objection you asked for has been lifted: %(kind)s", kind=kind),
            _("A restriction or objection was lifted: %(kind)s", kind=kind),
        ),
        RECEIVED: (
            _("We received your request: %(kind)s", kind=kind),
            _("A new privacy request arrived: %(kind)s", kind=kind),
        ),
        IN_PROGRESS: (
            _("We are working on your request: %(kind)s", kind=kind),
            _("A privacy request is being handled: %(kind)s", kind=kind),
        ),
        COMPLETED: (
            _("Your request has been completed: %(kind)s", kind=kind),
            _("A privacy request was completed: %(kind)s", kind=kind),
        ),
        REJECTED: (
            _("Your request has been rejected: %(kind)s", kind=kind),
            _("A privacy request was rejected: %(kind)s", kind=kind),
        ),
    }
    member_line, board_line = texts[event]
    deadline = _("Deadline: %(date)s", date=req.deadline.date().isoformat())
    member_body = member_line
    if event == REJECTED and req.reason:
        member_body += "\n" + _("Reason: %(reason)s", reason=req.reason)
    if event == COMPLETED and req.kind == ERASURE:
        member_body += "\n" + erasure_lines(req)
    _send_mail(state, Mail("member", req.user_id, member_line, member_body, req, event, user))
    _send_mail(state, Mail("board", None, board_line, board_line + "\n" + deadline, req, event))


# -- the engine ----------------------------------------------------------------------


def deadline_for(received: datetime) -> datetime:
    return received + timedelta(days=int(config_value("REQUEST_DEADLINE_DAYS")))


def open_request(state: Any, subject_id: Any, kind: str) -> DataRequest | None:
    return state.db.session.scalars(
        select(DataRequest).where(
            DataRequest.subject == str(subject_id),
            DataRequest.kind == kind,
            DataRequest.status.in_(OPEN),
        )
    ).first()


def requests_of(state: Any, subject_id: Any) -> list[DataRequest]:
    return list(
        state.db.session.scalars(
            select(DataRequest)
            .where(DataRequest.subject == str(subject_id))
            .order_by(DataRequest.received_at.desc(), DataRequest.id.desc())
        )
    )


def file_request(
    state: Any,
    subject_id: Any,
    kind: str,
    *,
    user_id: str | None,
    purpose: str | None = None,
    field: str | None = None,
    message: str | None = None,
) -> DataRequest:
    """File a request and commit; raises :class:`RequestError` if one of this kind is open."""
    if kind not in KINDS:
        raise RequestError(f"unknown request kind {kind!r}")
    if kind == OBJECTION and not purpose:
        raise RequestError("an objection names the purpose objected to")
    if kind == CORRECTION and not field:
        raise RequestError("a correction request names the field")
    if open_request(state, subject_id, kind) is not None:
        raise RequestError("duplicate")
    now = utcnow()
    req = DataRequest(
        subject=str(subject_id),
        user_id=user_id,
        kind=kind,
        purpose=purpose,
        field=field,
        message=message or None,
        status=RECEIVED,
        open_key="open",
        received_at=now,
        deadline=deadline_for(now),
        updated_at=now,
    )
    session = state.db.session
    session.add(req)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request of the same kind won the race
        session.rollback()
        raise RequestError("duplicate") from exc
    state.audit.record(
        "request.received",
        subject=subject_id,
        detail={"request": req.id, "kind": kind},
        actor=user_id,
    )
    session.commit()
    notify(state, req, RECEIVED)
    return req


def change_status(
    state: Any,
    req: DataRequest,
    status: str,
    *,
    actor: str | None,
    reason: str | None = None,
) -> DataRequest:
    """Move ``req`` to ``status``, taking effect on completion; commits."""
    if status not in TRANSITIONS.get(req.status, ()):
        raise RequestError(f"cannot go from {req.status} to {status}")
    if status == REJECTED and not (reason or "").strip():
        raise RequestError("a rejection needs a reason")
    session = state.db.session
    detail: dict[str, Any] = {"request": req.id, "kind": req.kind, "status": status}
    user = None
    if status == COMPLETED:
        if req.kind == ERASURE:  # the account may not survive the erasure
            user = login_user_of(req, snapshot=True)
        _take_effect(state, req, actor=actor)
        if req.kind == ERASURE:
            detail["result"] = {
                part: sum(item["count"] for item in req.result.get(part, []))
                for part in ("removed", "anonymised", "retained")
            }
    req.status = status
    req.open_key = "open" if status in OPEN else None
    req.updated_at = utcnow()
    req.handled_by = actor
    if status == REJECTED:
        req.reason = (reason or "").strip()
    state.audit.record(f"request.{status}", subject=req.subject, detail=detail, actor=actor)
    session.commit()
    notify(state, req, status, user=user)
    return req


def _take_effect(state: Any, req: DataRequest, *, actor: str | None) -> None:
    if req.kind == ERASURE:
        from flask_avg.erasure import erase_subject  # type: ignore[import-not-found,unused-ignore]

        subject_model = state.registry.subject
        key_type = subject_model.primary_key[0].type.python_type
        result = erase_subject(state, key_type(req.subject), actor=actor, reason="request")
        req.result_json = json.dumps(summarise(result), sort_keys=True)
        # The member's own words in their requests are personal data too.
        for other in requests_of(state, req.subject):
            other.message = None
    elif req.kind == RESTRICTION:
        if not is_restricted(state, req.subject):
            state.db.session.add(
                ProcessingLimit(subject=req.subject, kind=RESTRICTION, request_id=req.id)
            )
    elif (
        req.kind == OBJECTION and req.purpose and req.purpose not in objections(state, req.subject)
    ):
        state.db.session.add(
            ProcessingLimit(
                subject=req.subject, kind=OBJECTION, purpose=req.purpose, request_id=req.id
            )
        )


def summarise(result: Any) -> dict[str, list[dict[str, Any]]]:
    """The erasure result as counts per model and reasons; never personal values."""
    summary: dict[str, list[dict[str, Any]]] = {}
    for part in ("removed", "anonymised", "retained"):
        items = []
        for item in getattr(result, part, None) or []:
            reason = getattr(item, "reason", None)
            items.append(
                {
                    "model": str(getattr(item, "model", "")),
                    "count": int(getattr(item, "count", 0) or 0),
                    "reason": None if reason is None else str(reason),
                }
            )
        summary[part] = items
    return summary


# -- restriction and objection ---------------------------------------------------------


def _active(kind: str) -> Any:
    return select(ProcessingLimit.subject).where(
        ProcessingLimit.kind == kind, ProcessingLimit.lifted_at.is_(None)
    )


def is_restricted(state: Any, subject_id: Any) -> bool:
    stmt = select(exists(_active(RESTRICTION).where(ProcessingLimit.subject == str(subject_id))))
    return bool(state.db.session.scalar(stmt))


def objections(state: Any, subject_id: Any) -> list[str]:
    return list(
        state.db.session.scalars(
            select(ProcessingLimit.purpose)
            .where(
                ProcessingLimit.subject == str(subject_id),
                ProcessingLimit.kind == OBJECTION,
                ProcessingLimit.lifted_at.is_(None),
            )
            .order_by(ProcessingLimit.id)
        )
    )


def lift(
    state: Any, subject_id: Any, kind: str, purpose: str | None = None, *, actor: str | None
) -> int:
    """End a restriction (or an objection to ``purpose``); returns how many were lifted."""
    stmt = select(ProcessingLimit).where(
        ProcessingLimit.subject == str(subject_id),
        ProcessingLimit.kind == kind,
        ProcessingLimit.lifted_at.is_(None),
    )
    if purpose is not None:
        stmt = stmt.where(ProcessingLimit.purpose == purpose)
    rows = list(state.db.session.scalars(stmt))
    for row in rows:
        row.lifted_at = utcnow()
    if rows:
        state.audit.record(
            f"{kind}.lifted", subject=subject_id, detail={"count": len(rows)}, actor=actor
        )
    return len(rows)


def active_limit(state: Any, req: DataRequest) -> ProcessingLimit | None:
    """The restriction or objection a completed request put in place, while active."""
    return state.db.session.scalars(
        select(ProcessingLimit).where(
            ProcessingLimit.request_id == req.id, ProcessingLimit.lifted_at.is_(None)
        )
    ).first()


def lift_request(state: Any, req: DataRequest, *, actor: str | None) -> bool:
    """Lift what ``req`` put in place; the member is told (Art. 18(3)). Commits."""
    limit = active_limit(state, req)
    if limit is None:
        return False
    limit.lifted_at = utcnow()
    state.audit.record(
        f"{limit.kind}.lifted", subject=req.subject, detail={"request": req.id}, actor=actor
    )
    state.db.session.commit()
    notify(state, req, LIFTED)
    return True


def _subject_key(state: Any) -> Any:
    return state.registry.subject.primary_key[0]


def _keys_in(state: Any, stmt: Any) -> ColumnElement[bool]:
    key = _subject_key(state)
    column = ProcessingLimit.subject
    typed = column if key.type.python_type is str else cast(column, key.type)
    return key.in_(stmt.with_only_columns(typed))


def not_restricted(state: Any) -> ColumnElement[bool]:
    """A WHERE clause over the subject table: members without an active restriction."""
    return ~_keys_in(state, _active(RESTRICTION))


def not_objected(state: Any, purpose: str) -> ColumnElement[bool]:
    """A WHERE clause over the subject table: members who did not object to ``purpose``."""
    return ~_keys_in(state, _active(OBJECTION).where(ProcessingLimit.purpose == purpose))


# -- the board's queue ----------------------------------------------------------------


def queue(state: Any, *, show: str = "open") -> list[DataRequest]:
    stmt = select(DataRequest)
    if show == "open":
        stmt = stmt.where(DataRequest.status.in_(OPEN)).order_by(
            DataRequest.deadline, DataRequest.id
        )
    else:
        stmt = stmt.order_by(DataRequest.received_at.desc(), DataRequest.id.desc())
    return list(state.db.session.scalars(stmt))


def counts(state: Any, now: datetime | None = None) -> dict[str, int]:
    """Open and overdue request counts, for the dashboard."""
    now = now or utcnow()
    session = state.db.session
    base = select(func.count()).select_from(DataRequest).where(DataRequest.status.in_(OPEN))
    return {
        "open": int(session.scalar(base) or 0),
        "overdue": int(session.scalar(base.where(DataRequest.deadline < now)) or 0),
        "due_soon": int(
            session.scalar(
                base.where(
                    DataRequest.deadline >= now, DataRequest.deadline < now + timedelta(days=7)
                )
            )
            or 0
        ),
    }


__all__ = [
    "KINDS",
    "STATUSES",
    "DataRequest",
    "Mail",
    "ProcessingLimit",
    "RequestError",
    "change_status",
    "file_request",
    "not_objected",
    "not_restricted",
    "queue",
]
