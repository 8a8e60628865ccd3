"""The figures on the board's home: big numbers and the data behind the charts.

Every figure is one set-based query (a ``SUM(CASE ...)`` or a ``GROUP BY``), so
the page costs the same handful of queries for ten members or ten thousand.
Each block is computed only for a reader allowed to see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, extract, func, select

from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import localise
from flask_avg.core.jinja import format_month
from flask_avg.core.types import utcnow
from flask_avg.features.accountability.charts import Series, bar_chart
from flask_avg.features.breaches import service as breaches
from flask_avg.features.consent import service as consent
from flask_avg.features.members import service as members
from flask_avg.features.requests import service as requests
from flask_avg.features.retention import service as retention

if TYPE_CHECKING:
    from markupsafe import Markup

    from flask_avg.extension import AvgState

MONTHS = 12


@dataclass
class Stat:
    """One big number: ``value`` with ``label``; ``warn`` when it asks for action."""

    key: str
    value: Any
    label: str
    url: str | None = None
    warn: bool = False


@dataclass
class Board:
    stats: list[Stat] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    consent_rates: list[tuple[str, int, int, int | None]] = field(default_factory=list)
    #: the purge's last and next run and its warning (retention's PurgeStatus), for the
    #: retention managers: a purge cron forgot must show on the board's home page
    purge: Any = None


def months(today: date, n: int = MONTHS) -> list[tuple[int, int]]:
    """The last ``n`` months up to and including ``today``'s, oldest first."""
    year, month = today.year, today.month
    out = []
    for _i in range(n):
        out.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(out))


def _month_labels(span: list[tuple[int, int]]) -> list[str]:
    return [format_month(date(y, m, 1)) for y, m in span]


def _per_month(state: AvgState, column: Any, span: list[tuple[int, int]], *extra: Any) -> Any:
    """``(year, month, *extra, count)`` rows of ``column``'s table since the first month."""
    start = datetime(span[0][0], span[0][1], 1, tzinfo=UTC)
    year, month = extract("year", column), extract("month", column)
    stmt = (
        select(year, month, *extra, func.count())
        .where(column >= start)
        .group_by(year, month, *extra)
    )
    return state.db.session.execute(stmt).all()


def request_figures(state: AvgState, now: datetime) -> tuple[int, int]:
    """Open requests and the overdue among them, in one query."""
    req = requests.DataRequest
    is_open = req.status.in_(requests.OPEN)
    row = state.db.session.execute(
        select(
            func.coalesce(func.sum(case((is_open, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(is_open, req.deadline < now), 1), else_=0)), 0),
        )
    ).one()
    return int(row[0]), int(row[1])


def requests_chart(state: AvgState, span: list[tuple[int, int]]) -> Markup:
    req = requests.DataRequest
    counts = {(int(y), int(m)): int(n) for y, m, n in _per_month(state, req.received_at, span)}
    values = [counts.get(ym, 0) for ym in span]
    return bar_chart(
        "avg-chart-requests",
        _("Requests per month"),
        _month_labels(span),
        [Series(_("Requests received"), values)],
        summary=_("%(n)s requests in the last 12 months", n=sum(values)),
    )


def member_figures(state: AvgState) -> dict[str, int]:
    """Members by retention state, in one query: ``current``, ``former`` (kept within
    their period), ``due`` (the next purge erases them) and ``erased``."""
    conditions = members.status_conditions(state)
    due = retention.due_condition(state)
    table = state.registry.subject.table
    parts = {
        "current": conditions["current"],
        "former": and_(conditions["former"], ~due),
        "due": due,
        "erased": conditions["erased"],
    }
    row = (
        state.db.session.execute(
            select(
                *(
                    func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(key)
                    for key, cond in parts.items()
                )
            ).select_from(table)
        )
        .mappings()
        .one()
    )
    return {key: int(row[key]) for key in parts}


def members_chart(figures: dict[str, int]) -> Markup:
    names = {
        "current": _("Current"),
        "former": _("Former, within the retention period"),
        "due": _("Due at the next purge"),
        "erased": _("Erased"),
    }
    labels = [names[k] for k in names]
    return bar_chart(
        "avg-chart-members",
        _("%(Subjects)s by retention state"),
        labels,
        [Series(_("Number"), [figures[k] for k in names])],
        summary="; ".join(f"{names[k]}: {figures[k]}" for k in names),
    )


def consent_chart(state: AvgState, span: list[tuple[int, int]]) -> Markup:
    record = consent.ConsentRecord
    given: dict[tuple[int, int], int] = {}
    withdrawn: dict[tuple[int, int], int] = {}
    for y, m, agreed, n in _per_month(state, record.at, span, record.given):
        (given if agreed else withdrawn)[(int(y), int(m))] = int(n)
    yes = [given.get(ym, 0) for ym in span]
    no = [withdrawn.get(ym, 0) for ym in span]
    return bar_chart(
        "avg-chart-consent",
        _("Consent over time"),
        _month_labels(span),
        [Series(_("Given"), yes), Series(_("Withdrawn"), no)],
        summary=_(
            "%(given)s given and %(withdrawn)s withdrawn in the last 12 months",
            given=sum(yes),
            withdrawn=sum(no),
        ),
    )


def _url(endpoint: str, **values: Any) -> str | None:
    from flask import current_app, url_for

    if endpoint.split(".")[0] not in current_app.blueprints:
        return None
    return url_for(endpoint, **values)


def build(state: AvgState, today: date | None = None) -> Board:
    """The board's figures the current user may see."""
    now = utcnow()
    span = months(today or now.date())
    board = Board()
    current_members: int | None = None
    if state.can("avg.requests.handle"):
        open_, overdue = request_figures(state, now)
        queue = _url("avg_self.request_queue")
        board.stats.append(Stat("requests-open", open_, _("Open requests"), queue))
        board.stats.append(
            Stat("requests-overdue", overdue, _("Overdue requests"), queue, warn=overdue > 0)
        )
        board.charts.append(requests_chart(state, span))
    if state.can("avg.members.view"):
        figures = member_figures(state)
        current_members = figures["current"]
        board.stats.append(
            Stat(
                "members-due",
                figures["due"],
                _("%(Subjects)s due at the next purge"),
                _url("avg_retention.manage"),
            )
        )
        board.stats.append(
            Stat(
                "members-current",
                figures["current"],
                _("Current %(subjects)s"),
                _url("avg_admin.members"),
            )
        )
        board.charts.append(members_chart(figures))
    if state.can("avg.retention.manage") and _url("avg_retention.manage"):
        board.purge = retention.purge_status(state)
    if state.can("avg.breaches.manage"):
        running = breaches.running(state.db.session, now)
        late = sum(1 for _b, clock in running if clock.status == breaches.OVERDUE)
        board.stats.append(
            Stat(
                "breaches-running",
                len(running),
                _("Breach clocks running"),
                _url("avg_accountability.breaches_list"),
                warn=late > 0 or bool(running),
            )
        )
    if state.can("avg.consent.manage"):
        if current_members is None:  # a count, no personal data
            current_members = member_figures(state)["current"]
        for c in consent.counts(state):
            rate = None
            if current_members:
                # consents of former members still count until erased: at most 100 %
                rate = min(round(100 * c.current / current_members), 100)
            board.consent_rates.append(
                (str(localise(c.purpose.label)), c.current, c.withdrawn, rate)
            )
        board.charts.append(consent_chart(state, span))
    return board
