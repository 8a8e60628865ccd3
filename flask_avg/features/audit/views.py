"""The audit log screen: filter by actor, member, action and date; paginated; read-only.

It also shows how long entries are kept (``AVG_AUDIT_RETENTION_DAYS``) and the
record of each purge of the log itself (entries whose action starts with
``audit.purge``), so dropping old entries is never untraceable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template, request
from sqlalchemy import String, func, select

from flask_avg.core.config import config_value
from flask_avg.core.converters import page_number, query_date, query_text
from flask_avg.core.identity import user_key
from flask_avg.core.models import AuditEntry
from flask_avg.core.presenters import actor_names, subject_labels, subject_naming
from flask_avg.extension import get_state, require
from flask_avg.features.audit import wording
from flask_avg.features.retention import service as retention

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

PAGE_SIZE = 50


def _day(value: str | None) -> date | None:
    """A date filter; a malformed or out-of-range date (9999-12-31) is ignored."""
    return query_date(value)


def _actor_key(state: AvgState, text: str) -> str:
    """An e-mail address is looked up to the login id the log stores; anything else as is."""
    if "@" not in text:
        return text
    try:
        user = state.find_user(text)
    except RuntimeError:
        return text
    return (user_key(user) or text) if user is not None else text


def _actor_names(state: AvgState, ids: set[str]) -> dict[str, str]:
    return actor_names(state, ids)


def _subject_key(state: AvgState, text: str) -> str:
    """A member number is looked up to the key the log stores; anything else as is."""
    naming = subject_naming(state)
    if not naming.number:
        return text
    subject = state.registry.subject
    column = subject.table.c[naming.number]
    if not isinstance(column.type, String):
        return text
    found = state.db.session.scalar(
        select(subject.primary_key[0]).where(column == text[: column.type.length or 200])
    )
    return str(found) if found is not None else text


FILTERS = ("actor", "subject", "action", "outcome", "from", "to")


def _filters() -> dict[str, str]:
    return {name: query_text(request.args.get(name)) for name in FILTERS}


def _conditions(state: AvgState, filters: dict[str, str]) -> list[Any]:
    """The WHERE clauses for the filters filled in."""
    conditions = []
    if filters["actor"]:
        conditions.append(AuditEntry.actor == _actor_key(state, filters["actor"]))
    if filters["subject"]:
        conditions.append(AuditEntry.subject == _subject_key(state, filters["subject"]))
    if filters["action"]:
        conditions.append(AuditEntry.action == filters["action"])
    if filters["outcome"]:
        conditions.append(AuditEntry.outcome == filters["outcome"])
    start, end = _day(filters["from"]), _day(filters["to"])
    if start:
        conditions.append(AuditEntry.at >= datetime.combine(start, time.min, UTC))
    if end:
        conditions.append(AuditEntry.at < datetime.combine(end + timedelta(days=1), time.min, UTC))
    return conditions


def _log_purges(session: Any) -> list[AuditEntry]:
    """The last purges of the log itself (``audit.purge*``), newest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.like("audit.purge%"))
            .order_by(AuditEntry.at.desc())
            .limit(10)
        )
    )


@require("avg.audit.view")
def audit_log() -> Any:
    state = get_state()
    filters = _filters()
    conditions = _conditions(state, filters)
    session = state.db.session
    total = session.scalar(select(func.count(AuditEntry.id)).where(*conditions)) or 0
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = page_number(request.args.get("page"), pages)
    entries = session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    actions = session.scalars(
        select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    ).all()
    purges = _log_purges(session)
    names = _actor_names(state, {e.actor for e in [*entries, *purges] if e.actor})
    people = subject_labels(
        state, {e.subject for e in entries}, erased=retention.erased_condition(state)
    )
    rows = [
        {
            "entry": e,
            "action": wording.action_text(state, e.action),
            "data": wording.data_text(state, e.model, e.field_list),
            "detail": wording.readable_detail(state, e.detail),
        }
        for e in entries
    ]
    return render_template(
        "avg/accountability/audit_log.html",
        entries=entries,
        rows=rows,
        names=names,
        people=people,
        actions=wording.action_choices(state, list(actions)),
        readable=lambda detail: wording.readable_detail(state, detail),
        filters=filters,
        total=total,
        page=page,
        pages=pages,
        retention_days=config_value("AUDIT_RETENTION_DAYS"),
        purges=purges,
    )


def register_routes(bp: Blueprint, state: AvgState) -> None:
    bp.add_url_rule("/audit", endpoint="audit_log", view_func=audit_log, methods=["GET"])
