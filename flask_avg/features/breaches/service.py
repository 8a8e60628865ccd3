"""The breach register: the 72-hour clock, counting the people affected, exports.

Art. 33(1): notify the supervisory authority (in the Netherlands the
Autoriteit Persoonsgegevens) within 72 hours of becoming aware of a breach,
unless it is unlikely to result in a risk; Art. 33(5): document every breach,
notified or not. The clock runs from ``discovered_at``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, func, select, union
from sqlalchemy.orm import Session

from flask_avg.core.i18n import gettext as _
from flask_avg.core.signals import breach_recorded
from flask_avg.core.types import utcnow
from flask_avg.features.accountability.register import cell
from flask_avg.features.breaches.models import Breach

DEADLINE = timedelta(hours=72)

OPEN, OVERDUE, NOTIFIED, NOTIFIED_LATE, NOT_REQUIRED = (
    "open",
    "overdue",
    "notified",
    "notified_late",
    "not_required",
)


@dataclass(frozen=True)
class Clock:
    """Where a breach stands against the 72 hours."""

    deadline: datetime
    status: str
    #: time left (positive) or overdue (negative) while the authority is not told
    remaining: timedelta | None

    @property
    def running(self) -> bool:
        return self.status in (OPEN, OVERDUE)

    def describe(self) -> str:
        if self.status == NOT_REQUIRED:
            return _("No notification needed (reason recorded)")
        if self.status == NOTIFIED:
            return _("Authority notified in time")
        if self.status == NOTIFIED_LATE:
            return _("Authority notified after the 72 hours")
        assert self.remaining is not None
        hours, minutes = _hours_minutes(abs(self.remaining))
        if self.status == OVERDUE:
            return _("Overdue by %(h)s h %(m)s min", h=hours, m=minutes)
        return _("%(h)s h %(m)s min left to notify the authority", h=hours, m=minutes)


def _hours_minutes(delta: timedelta) -> tuple[int, int]:
    minutes = int(delta.total_seconds() // 60)
    return minutes // 60, minutes % 60


def clock(breach: Breach, now: datetime | None = None) -> Clock:
    """The 72-hour clock of ``breach`` at ``now`` (default: the current time)."""
    now = now or utcnow()
    deadline = breach.discovered_at + DEADLINE
    if breach.ap_notified_at is not None:
        late = breach.ap_notified_at > deadline
        return Clock(deadline, NOTIFIED_LATE if late else NOTIFIED, None)
    if breach.ap_not_required_reason.strip():
        return Clock(deadline, NOT_REQUIRED, None)
    remaining = deadline - now
    return Clock(deadline, OPEN if remaining > timedelta(0) else OVERDUE, remaining)


def running(session: Session, now: datetime | None = None) -> list[tuple[Breach, Clock]]:
    """Breaches whose authority notification is still outstanding, most urgent first."""
    rows = session.scalars(
        select(Breach)
        .where(Breach.ap_notified_at.is_(None), Breach.closed_at.is_(None))
        .order_by(Breach.discovered_at)
    )
    result = [(b, clock(b, now)) for b in rows]
    return [(b, c) for b, c in result if c.running]


def count_affected(
    state: Any,
    models: list[str],
    start: date | None = None,
    end: date | None = None,
) -> int:
    """How many distinct members own a row of ``models`` (anchor date within start..end).

    The dates narrow each model on its retention anchor column where it has
    one (e.g. "the invoices of 2020"); models without an anchor count whole.
    """
    selects = []
    for name in models:
        model = state.registry.get(name)
        conditions: list[Any] = []
        anchor: Any = model.anchor_column
        if anchor is not None:
            is_dt = isinstance(anchor.type, DateTime)
            if start is not None:
                conditions.append(anchor >= (datetime.combine(start, time.min) if is_dt else start))
            if end is not None:
                if is_dt:
                    conditions.append(anchor < datetime.combine(end + timedelta(days=1), time.min))
                else:
                    conditions.append(anchor <= end)
        selects.append(state.resolver.owners_of(model, *conditions))
    if not selects:
        return 0
    combined: Any = selects[0]
    if len(selects) > 1:
        combined = union(*selects)
    total = state.db.session.scalar(select(func.count()).select_from(combined.subquery()))
    return int(total or 0)


#: Columns of the export, in the order of seed 004 art. 5.
EXPORT_FIELDS = (
    "id",
    "title",
    "started_at",
    "discovered_at",
    "ended_at",
    "nature",
    "scope",
    "consequences",
    "categories",
    "affected_count",
    "expected_recovery",
    "measures_taken",
    "measures_planned",
    "ap_notified_at",
    "ap_reference",
    "ap_not_required_reason",
    "people_notified_at",
    "people_not_required_reason",
    "closed_at",
)


def save(
    state: Any, breach: Breach | None, apply: Callable[[Breach], list[str]], *, actor: str | None
) -> Breach:
    """Create (``breach`` None) or update a breach: ``apply`` sets its fields and returns
    the names it changed; audits, commits and sends ``breach_recorded``."""
    created = breach is None
    if breach is None:
        breach = Breach(created_by=actor)
        state.db.session.add(breach)
    changed = apply(breach)
    state.db.session.flush()
    state.audit.record(
        "breach.create" if created else "breach.update",
        fields=changed,
        detail={"breach": breach.id, "affected": breach.affected_count},
    )
    state.db.session.commit()
    breach_recorded.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        breach=breach,
        created=created,
    )
    return breach


def export_rows(session: Session) -> list[list[Any]]:
    rows = []
    for breach in session.scalars(select(Breach).order_by(Breach.discovered_at, Breach.id)):
        values: list[Any] = []
        for name in EXPORT_FIELDS:
            value = getattr(breach, name)
            if isinstance(value, datetime):
                value = value.isoformat(timespec="minutes")
            values.append(value)
        values.append(clock(breach).status)
        rows.append(values)
    return rows


def to_csv(session: Session, delimiter: str = ";") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow([*EXPORT_FIELDS, "deadline_status"])
    for values in export_rows(session):
        writer.writerow([cell(v) for v in values])
    return buf.getvalue()
