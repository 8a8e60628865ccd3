"""The breach register: the 72-hour clock, counting the people affected, exports.

Art. 33(1): notify the supervisory authority (in the Netherlands the
Autoriteit Persoonsgegevens) within 72 hours of becoming aware of a breach,
unless it is unlikely to result in a risk; Art. 33(5): document every breach,
notified or not. The clock runs from ``discovered_at``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import DateTime, func, select, text, union, union_all
from sqlalchemy.orm import Session

from flask_avg.core.audit import current_actor
from flask_avg.core.i18n import gettext as _
from flask_avg.core.signals import breach_recorded
from flask_avg.core.types import utcnow
from flask_avg.features.accountability.register import cell
from flask_avg.features.breaches.models import Breach

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

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
    try:
        deadline = breach.discovered_at + DEADLINE
    except OverflowError:  # a date near 9999 stored by older code: the clock never runs out
        deadline = datetime.max.replace(tzinfo=breach.discovered_at.tzinfo)
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
    state: AvgState,
    models: list[str],
    start: date | None = None,
    end: date | None = None,
) -> int:
    """How many distinct members own a row of ``models`` (anchor date within start..end).

    The dates narrow each model on its retention anchor column where it has
    one (e.g. "the invoices of 2020"); models without an anchor count whole.
    """
    subject = state.registry.subject
    key = subject.primary_key[0]
    selects: list[Any] = []
    direct = True  # every select reads link columns (no resolver subquery)
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
                    conditions.append(anchor <= datetime.combine(end, time.max))
                else:
                    conditions.append(anchor <= end)
        links = _direct_links(model, key)
        if links is None:  # a longer path (a payment's invoice's member): the resolver's
            selects.append(state.resolver.owners_of(model, *conditions))
            direct = False
            continue
        # the model points to the member itself: read the links from the model's rows
        # alone (its index on them), as a hand-written count(DISTINCT member_id) does
        selects += [select(col).where(*conditions, col.is_not(None)) for col in links]
    if not selects:
        return 0
    session = state.db.session
    if not _links_checked(session):
        # members whose key the rows name: a link to a member that does not exist
        # (SQLite without its foreign keys switched on) is not a person
        owners: Any = selects[0] if len(selects) == 1 else union_all(*selects)
        stmt = select(func.count()).select_from(subject.table).where(key.in_(owners))
        return int(session.scalar(stmt) or 0)
    if len(selects) == 1 and direct:
        # one link column: count(DISTINCT member_id), as one would write it by hand
        col = selects[0].selected_columns[0]
        return int(session.scalar(selects[0].with_only_columns(func.count(col.distinct()))) or 0)
    # every link is a real member (foreign keys checked): UNION drops the repeats
    return int(session.scalar(select(func.count()).select_from(union(*selects).subquery())) or 0)


def _links_checked(session: Session) -> bool:
    """Whether the database checks foreign keys: always, but on SQLite only with
    ``PRAGMA foreign_keys=ON`` on the connection (a host may leave it off)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return True
    return bool(session.execute(text("PRAGMA foreign_keys")).scalar())


def _direct_links(model: Any, key: Any) -> list[Any] | None:
    """The model's columns naming the member directly when every path of the model is
    one such column (``invoices.member_id``; a message's sender and recipient), else None."""
    links: list[Any] = []
    for path in model.paths:
        if len(path) != 1 or not path[0].up:
            return None
        for src, dst in path[0].pairs:
            if dst is not key or not any(fk.column is key for fk in src.foreign_keys):
                return None
            links.append(src)
    return links or None


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


#: The plain text fields of a breach, as the form and :class:`BreachInput` name them.
TEXT_FIELDS = (
    "title",
    "nature",
    "scope",
    "consequences",
    "expected_recovery",
    "measures_taken",
    "measures_planned",
    "ap_reference",
    "ap_not_required_reason",
    "people_not_required_reason",
)
#: The moments of a breach (aware UTC).
TIME_FIELDS = ("started_at", "discovered_at", "ended_at", "ap_notified_at", "people_notified_at")


@dataclass(kw_only=True)
class BreachInput:
    """What the board records about a breach (the form's fields); times are aware UTC.

    With ``affected_models`` the number of people affected is counted from those
    models' rows (dated ``affected_from`` .. ``affected_to`` where a model has a
    retention anchor), else ``affected_count`` is taken as given.
    """

    title: str
    discovered_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    nature: str = ""
    scope: str = ""
    consequences: str = ""
    categories: list[str] = field(default_factory=list)
    affected_models: list[str] = field(default_factory=list)
    affected_from: date | None = None
    affected_to: date | None = None
    affected_count: int | None = None
    expected_recovery: str = ""
    measures_taken: str = ""
    measures_planned: str = ""
    ap_notified_at: datetime | None = None
    ap_reference: str = ""
    ap_not_required_reason: str = ""
    people_notified_at: datetime | None = None
    people_not_required_reason: str = ""
    closed: bool = False


def newest_first(session: Session) -> list[Breach]:
    """Every recorded breach, the most recently discovered first."""
    return list(
        session.scalars(select(Breach).order_by(Breach.discovered_at.desc(), Breach.id.desc()))
    )


def record(
    state: AvgState, values: BreachInput, breach: Breach | None = None, *, actor: str | None = None
) -> Breach:
    """Record a new breach (``breach`` None) or update one from ``values``; see :func:`save`."""
    actor = actor if actor is not None else current_actor()
    return save(state, breach, lambda b: apply_input(state, b, values, actor=actor), actor=actor)


def apply_input(
    state: AvgState, breach: Breach, values: BreachInput, *, actor: str | None
) -> list[str]:
    """Copy ``values`` onto ``breach``; returns the names of the fields that changed."""
    changed: list[str] = []

    def put(name: str, value: Any) -> None:
        if getattr(breach, name) != value:
            setattr(breach, name, value)
            changed.append(name)

    for name in TEXT_FIELDS:
        put(name, (getattr(values, name) or "").strip())
    for name in TIME_FIELDS:
        put(name, getattr(values, name))
    put("categories", ",".join(values.categories))
    _apply_affected(state, values, put)
    if values.closed and breach.closed_at is None:
        put("closed_at", utcnow())
    elif not values.closed and breach.closed_at is not None:
        put("closed_at", None)
    breach.updated_at = utcnow()
    breach.updated_by = actor
    return changed


def _apply_affected(state: AvgState, values: BreachInput, put: Callable[[str, Any], None]) -> None:
    """The people affected: counted from the chosen models, or the number given."""
    models = list(values.affected_models)
    if not models:
        put("affected_count", values.affected_count)
        put("affected_computed", False)
        put("affected_filter_json", None)
        return
    start, end = values.affected_from, values.affected_to
    put("affected_count", count_affected(state, models, start, end))
    put("affected_computed", True)
    put(
        "affected_filter_json",
        json.dumps(
            {
                "models": models,
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
            }
        ),
    )


def save(
    state: AvgState,
    breach: Breach | None,
    apply: Callable[[Breach], list[str]],
    *,
    actor: str | None,
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


def export_csv(state: AvgState) -> str:
    """Every breach as CSV (:func:`to_csv`, the separator by ``AVG_CSV_DELIMITER`` or the
    page's language); audited as ``breach.export``."""
    from flask_avg.features.export.formats import csv_delimiter

    text = to_csv(state.db.session, csv_delimiter())
    state.audit.record("breach.export", detail={"format": "csv"})
    state.db.session.commit()
    return text


def to_csv(session: Session, delimiter: str = ";") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([*EXPORT_FIELDS, "deadline_status"])
    for values in export_rows(session):
        writer.writerow([cell(v) for v in values])
    return buf.getvalue()
