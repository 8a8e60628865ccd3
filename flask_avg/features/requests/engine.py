"""Filing requests, moving them through their states, and what completing one does."""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from flask_avg.core.config import config_value
from flask_avg.core.plugins import EraseContext, Erased
from flask_avg.core.subjects import lock_subject
from flask_avg.core.types import utcnow
from flask_avg.features.requests.limits import is_restricted, objections
from flask_avg.features.requests.models import (
    BOARD_CHANNELS,
    CHANNELS,
    CLOSED,
    COMPLETED,
    CORRECTION,
    ERASURE,
    EXTENDED,
    IDENTITY_CHECKS,
    KINDS,
    OBJECTION,
    ONLINE,
    OPEN,
    RECEIVED,
    REJECTED,
    RESTRICTION,
    TRANSITIONS,
    DataRequest,
    ProcessingLimit,
    RequestError,
    open_key_for,
)
from flask_avg.features.requests.notify import notify, recipient_of, subject_of


def deadline_for(received: datetime) -> datetime:
    return received + timedelta(days=int(config_value("REQUEST_DEADLINE_DAYS")))


def open_request(
    state: Any, subject_id: Any, kind: str, *, field: str | None = None
) -> DataRequest | None:
    """The member's open request of ``kind``; for a correction with ``field``, the open
    correction of that field (several fields may be corrected at once)."""
    stmt = select(DataRequest).where(
        DataRequest.subject == str(subject_id),
        DataRequest.kind == kind,
        DataRequest.status.in_(OPEN),
    )
    if kind == CORRECTION and field:
        stmt = stmt.where(DataRequest.open_key.in_([open_key_for(kind, field), "open"]))
        stmt = stmt.where(DataRequest.field == field)
    return state.db.session.scalars(stmt).first()


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
    new_value: str | None = None,
    channel: str = ONLINE,
    identity_check: str = "account",
    identity_note: str | None = None,
    received_at: datetime | None = None,
) -> DataRequest:
    """File a request and commit; raises :class:`RequestError` if one of this kind is open
    (for a correction: one of this field), and
    :class:`~flask_avg.core.subjects.SubjectErased` when the member has been erased.

    ``new_value``: the value a correction asks for (``field`` names the field as
    ``Model.column``). ``channel`` (:data:`CHANNELS`) and ``identity_check``
    (:data:`IDENTITY_CHECKS`, with ``identity_note``) say how the request came in and
    how the requester was identified: ``"account"`` for a member's own, ``"email_verified"``
    for a verified address, the board's choice for a paper or phone request.
    ``received_at`` (not in the future) is when a letter or call came in; the deadline
    counts from it.
    """
    if kind not in KINDS:
        raise RequestError(f"unknown request kind {kind!r}")
    if kind == OBJECTION and not purpose:
        raise RequestError("an objection names the purpose objected to")
    if kind == CORRECTION and not field:
        raise RequestError("a correction request names the field")
    if channel not in CHANNELS:
        raise RequestError(f"unknown channel {channel!r}")
    if identity_check not in IDENTITY_CHECKS:
        raise RequestError(f"unknown identity check {identity_check!r}")
    if channel in BOARD_CHANNELS and not (identity_note or "").strip():
        raise RequestError("a request recorded by the board says how identity was checked")
    now = utcnow()
    if received_at is not None and received_at > now:
        raise RequestError("a request cannot be received in the future")
    lock_subject(state, subject_id)
    if open_request(state, subject_id, kind, field=field) is not None:
        raise RequestError("duplicate")
    received = received_at or now
    req = DataRequest(
        subject=str(subject_id),
        user_id=user_id,
        kind=kind,
        purpose=purpose,
        field=field,
        message=message or None,
        new_value=new_value if kind == CORRECTION else None,
        channel=channel,
        identity_check=identity_check,
        identity_note=(identity_note or "").strip() or None,
        status=RECEIVED,
        open_key=open_key_for(kind, field),
        received_at=received,
        deadline=deadline_for(received),
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
        detail={"request": req.id, "kind": kind, "channel": channel, "identity": identity_check},
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
    """Move ``req`` to ``status``, taking effect on completion; commits.

    Locks the member first and reads ``req`` again; raises
    :class:`~flask_avg.core.subjects.SubjectErased` when the member has been
    erased (their open requests were closed then).
    """
    lock_subject(state, req.subject)
    state.db.session.refresh(req, with_for_update=True)
    if status not in TRANSITIONS.get(req.status, ()):
        raise RequestError(f"cannot go from {req.status} to {status}")
    if status == REJECTED and not (reason or "").strip():
        raise RequestError("a rejection needs a reason")
    if status == COMPLETED and req.kind == CORRECTION and not _applying.get():
        raise RequestError("a correction is completed by applying it (or rejected)")
    session = state.db.session
    detail: dict[str, Any] = {"request": req.id, "kind": req.kind, "status": status}
    member = None
    if status == COMPLETED:
        if req.kind == ERASURE:  # the address and the account may not survive the erasure
            member = recipient_of(state, req, snapshot=True)
        _take_effect(state, req, actor=actor)
        if req.kind == ERASURE:
            detail["result"] = {
                part: sum(item["count"] for item in req.result.get(part, []))
                for part in ("removed", "anonymised", "retained")
            }
    req.status = status
    req.open_key = (req.open_key or open_key_for(req.kind, req.field)) if status in OPEN else None
    req.updated_at = utcnow()
    req.handled_by = actor
    if status == REJECTED:
        req.reason = (reason or "").strip()
    state.audit.record(f"request.{status}", subject=req.subject, detail=detail, actor=actor)
    session.commit()
    notify(state, req, status, member=member)
    return req


#: set while :func:`apply_correction` completes its request
_applying: ContextVar[bool] = ContextVar("avg_applying_correction", default=False)


def apply_correction(state: Any, req: DataRequest, *, actor: str | None) -> list[str]:
    """Write a correction request's value and complete the request; returns the changed keys.

    The value goes through the same field check and write as the member's own
    correction (:func:`flask_avg.features.self_service.service.correct`: validated
    for the column, audited ``self.edit``, ``personal_data_changed`` sent), then the
    request is completed (audited, the member told). Raises :class:`RequestError`
    when the request is not an open correction with a value, or the value does not
    fit the field (``.errors`` lists why), and ``ValueInUse`` / ``ProfileMissing``
    from the write (nothing changed).
    """
    from flask_avg.features.self_service import service as self_service

    lock_subject(state, req.subject)
    state.db.session.refresh(req, with_for_update=True)
    if req.kind != CORRECTION or req.status not in OPEN:
        raise RequestError("only an open correction request can be applied")
    if req.new_value is None or not req.field:
        raise RequestError("this request holds no value to apply")
    key, value = correction_value(state, req.field, req.new_value)
    subject = subject_of(state, req)
    if subject is None:
        raise RequestError("the member is not there")
    changed = self_service.correct(state, subject, {key: value}, actor=actor)
    token = _applying.set(True)
    try:
        change_status(state, req, COMPLETED, actor=actor)
    finally:
        _applying.reset(token)
    return changed


class InvalidValue(RequestError):
    """A requested value that does not fit its field; ``errors`` says why."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def field_key_of(state: Any, field: str) -> str:
    """The self-service key (``last_name``, ``Profile.street``) of a request's
    ``Model.column``; ``KeyError`` for a field that is not a member's own."""
    from flask_avg.features.self_service import field_policy

    model, column = field_policy.split_key(state, field)
    return field_policy.field_key(model, column)


def correction_value(state: Any, field: str, raw: str) -> tuple[str, Any]:
    """The field key and the typed value of ``raw`` for ``field``, checked by the
    same form field as the member's own correction; raises :class:`InvalidValue`."""
    from werkzeug.datastructures import MultiDict
    from wtforms import Form

    from flask_avg.core.forms import field_for
    from flask_avg.features.self_service import field_policy

    try:
        model, column = field_policy.split_key(state, field)
    except KeyError:
        raise InvalidValue(["unknown field"]) from None

    class ValueForm(Form):
        value = field_for(model, column)

    form = ValueForm(formdata=MultiDict({"value": raw}))
    if not form.validate():
        raise InvalidValue(list(form.value.errors))
    value = form.value.data
    return field_policy.field_key(model, column), (None if value == "" else value)


class ExtensionRefused(RequestError):
    """An extension that Art. 12(3) does not allow; ``why`` is one of ``"closed"``,
    ``"twice"``, ``"late"``, ``"reason"``, ``"days"``."""

    def __init__(self, why: str) -> None:
        super().__init__(f"extension refused: {why}")
        self.why = why


def was_extended(req: DataRequest) -> bool:
    return req.extended_at is not None or req.deadline > deadline_for(req.received_at)


def can_extend(req: DataRequest, now: datetime | None = None) -> bool:
    """Open, not extended before, and still within the first month after receipt."""
    return (
        req.status in OPEN
        and not was_extended(req)
        and (now or utcnow()) <= deadline_for(req.received_at)
    )


def extend(
    state: Any, req: DataRequest, *, actor: str | None, reason: str, days: int | None = None
) -> DataRequest:
    """Extend an open request's deadline by ``days`` (default and at most
    ``AVG_REQUEST_EXTENSION_DAYS``; Art. 12(3): up to two more months, once, within
    the first month, the member told why); commits and tells the member.

    Raises :class:`ExtensionRefused` (a :class:`RequestError`) otherwise.
    """
    lock_subject(state, req.subject)
    state.db.session.refresh(req, with_for_update=True)
    most = int(config_value("REQUEST_EXTENSION_DAYS"))
    now = utcnow()
    if req.status not in OPEN:
        raise ExtensionRefused("closed")
    if was_extended(req):
        raise ExtensionRefused("twice")
    if now > deadline_for(req.received_at):
        raise ExtensionRefused("late")
    if not (reason or "").strip():
        raise ExtensionRefused("reason")
    if days is None:
        days = most
    if not 1 <= int(days) <= most:
        raise ExtensionRefused("days")
    req.deadline = req.deadline + timedelta(days=int(days))
    req.extension_reason = reason.strip()
    req.extended_at = now
    req.updated_at = now
    req.handled_by = actor
    state.audit.record(
        "request.extended",
        subject=req.subject,
        detail={"request": req.id, "kind": req.kind, "deadline": req.deadline.date().isoformat()},
        actor=actor,
    )
    state.db.session.commit()
    notify(state, req, EXTENDED)
    return req


def _take_effect(state: Any, req: DataRequest, *, actor: str | None) -> None:
    if req.kind == ERASURE:
        subject_model = state.registry.subject
        key_type = subject_model.primary_key[0].type.python_type
        token = _completing.set(req.id)
        try:
            # the member's last mail is this request's "completed" one, with the result
            result = state.erase_subject(
                key_type(req.subject), actor=actor, reason="request", farewell=False
            )
        finally:
            _completing.reset(token)
        req.result_json = json.dumps(summarise(result), sort_keys=True)
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


#: the erasure request being completed: :func:`erase` leaves it to :func:`change_status`
_completing: ContextVar[int | None] = ContextVar("avg_completing_request", default=None)


def erase(ctx: EraseContext) -> list[Erased]:
    """For subjects being erased (by request, the board's button, the CLI, the purge or
    the host's code): blank their own words in their requests, close the open ones,
    which nobody can act on any more, and drop their restrictions and objections.
    Set-based, in the erasure's transaction."""
    session = ctx.session
    table: Any = DataRequest.__table__
    limits: Any = ProcessingLimit.__table__
    mine = ctx.key_in(table.c.subject)
    open_ = mine & table.c.status.in_(OPEN)
    completing = _completing.get()
    if completing is not None:
        open_ = open_ & (table.c.id != completing)
    closing = session.execute(select(table.c.id, table.c.subject, table.c.kind).where(open_)).all()
    now = utcnow()
    if closing:
        session.execute(
            update(table)
            .where(table.c.id.in_([row.id for row in closing]))
            .values(status=CLOSED, open_key=None, updated_at=now, handled_by=ctx.actor)
        )
        for row in closing:
            ctx.state.audit.record(
                "request.closed",
                subject=row.subject,
                detail={"request": row.id, "kind": row.kind, "status": CLOSED},
                actor=ctx.actor,
            )
    blanked = session.execute(
        update(table).where(mine, table.c.message.is_not(None)).values(message=None)
    )
    dropped = session.execute(delete(limits).where(ctx.key_in(limits.c.subject)))
    return [
        Erased("requests", anonymised=int(getattr(blanked, "rowcount", 0) or 0)),
        Erased("processing_limits", removed=int(getattr(dropped, "rowcount", 0) or 0)),
    ]


def _text(value: Any) -> Any:
    """A text for JSON: ``{"nl", "en"}`` texts stay whole, anything else becomes a string."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return str(value)


def summarise(result: Any) -> dict[str, list[dict[str, Any]]]:
    """The erasure result as counts per model and reasons; never personal values."""
    summary: dict[str, list[dict[str, Any]]] = {}
    for part in ("removed", "anonymised", "retained"):
        items = []
        for item in getattr(result, part, None) or []:
            reason = getattr(item, "reason", None)
            items.append(
                {
                    "model": _text(getattr(item, "model", "")),
                    "count": int(getattr(item, "count", 0) or 0),
                    "reason": None if reason is None else _text(reason),
                }
            )
        summary[part] = items
    return summary


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
