"""Restriction (Art. 18) and objection (Art. 21) in effect, and SQL clauses for host queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, cast, exists, select

from flask_avg.core.types import utcnow
from flask_avg.features.requests.models import (
    LIFTED,
    OBJECTION,
    RESTRICTION,
    DataRequest,
    ProcessingLimit,
)
from flask_avg.features.requests.notify import notify

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def _active(kind: str) -> Any:
    return select(ProcessingLimit.subject).where(
        ProcessingLimit.kind == kind, ProcessingLimit.lifted_at.is_(None)
    )


def is_restricted(state: AvgState, subject_id: Any) -> bool:
    stmt = select(exists(_active(RESTRICTION).where(ProcessingLimit.subject == str(subject_id))))
    return bool(state.db.session.scalar(stmt))


def objections(state: AvgState, subject_id: Any) -> list[str]:
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
    state: AvgState, subject_id: Any, kind: str, purpose: str | None = None, *, actor: str | None
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


def active_limit(state: AvgState, req: DataRequest) -> ProcessingLimit | None:
    """The restriction or objection a completed request put in place, while active."""
    return state.db.session.scalars(
        select(ProcessingLimit).where(
            ProcessingLimit.request_id == req.id, ProcessingLimit.lifted_at.is_(None)
        )
    ).first()


def lift_request(state: AvgState, req: DataRequest, *, actor: str | None) -> bool:
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


def _subject_key(state: AvgState) -> Any:
    return state.registry.subject.primary_key[0]


def _keys_in(state: AvgState, stmt: Any) -> ColumnElement[bool]:
    key = _subject_key(state)
    column = ProcessingLimit.subject
    typed = column if key.type.python_type is str else cast(column, key.type)
    return key.in_(stmt.with_only_columns(typed))


def not_restricted(state: AvgState) -> ColumnElement[bool]:
    """A WHERE clause over the subject table: members without an active restriction."""
    return ~_keys_in(state, _active(RESTRICTION))


def not_objected(state: AvgState, purpose: str) -> ColumnElement[bool]:
    """A WHERE clause over the subject table: members who did not object to ``purpose``."""
    return ~_keys_in(state, _active(OBJECTION).where(ProcessingLimit.purpose == purpose))


# -- the board's queue ----------------------------------------------------------------
