"""The board's member list and member view as a Python API; the pages call these.

The list shows people by name and number (:func:`~flask_avg.core.presenters.subject_naming`),
leaves erased people out unless asked (erased: named by the erasure ledger or
anonymised; see :func:`flask_avg.features.retention.service.erased_condition`),
and tells current members from former ones by the subject's retention anchor
(the end-of-membership date: empty or in the future is current).

Viewing one member's data is audited (``members.view``) here, so a host page
that shows a member through :func:`view_member` leaves the same trace as the
board's page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, and_, case, false, func, literal, select, true

from flask_avg.core.converters import page_number
from flask_avg.core.presenters import (
    SubjectData,
    SubjectNaming,
    collect,
    search_condition,
    subject_label,
    subject_naming,
)
from flask_avg.features.retention import service as retention

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

PAGE_SIZE = 50
#: page sizes a visitor may choose; anything else reads as :data:`PAGE_SIZE`
PAGE_SIZES = (25, 50, 100, 200)
#: the list's filters; ``current`` is the default
STATUSES = ("current", "former", "erased", "all")
#: what the list may be sorted by
SORTS = ("name", "number", "status")


@dataclass
class MemberRow:
    """One line of the member list."""

    key: Any
    label: str
    number: Any
    status: str
    anchor: Any
    values: dict[str, Any]


@dataclass
class MemberPage:
    """One page of the member list and where it stands.

    ``counts`` holds how many members match the search per status (``current``,
    ``former``, ``erased``, ``all``); ``total`` is the count for ``status``.
    """

    rows: list[MemberRow]
    columns: list[str]
    total: int
    page: int
    pages: int
    status: str = "current"
    sort: str = "name"
    descending: bool = False
    page_size: int = PAGE_SIZE
    counts: dict[str, int] = field(default_factory=dict)
    naming: SubjectNaming | None = None


def choice(raw: Any, allowed: tuple[str, ...], default: str) -> str:
    """A query-string value among ``allowed``; anything else reads as ``default``."""
    return raw if isinstance(raw, str) and raw in allowed else default


def page_size(raw: Any) -> int:
    """A page size from the query string: one of :data:`PAGE_SIZES`, else the default."""
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 4 and int(text) in PAGE_SIZES else PAGE_SIZE


def _today_limit(anchor: Any) -> Any:
    today = date.today()
    return datetime.combine(today, time.min) if isinstance(anchor.type, DateTime) else today


def status_conditions(state: AvgState) -> dict[str, Any]:
    """``{status: condition on the subject table}`` for ``current``, ``former`` and
    ``erased`` (the three do not overlap) and ``all``."""
    subject = state.registry.subject
    erased = retention.erased_condition(state)
    anchor = subject.anchor_column
    if anchor is None:
        ended: Any = and_(false())
    else:
        ended = and_(anchor.is_not(None), anchor <= _today_limit(anchor))
    return {
        "current": and_(~erased, ~ended),
        "former": and_(~erased, ended),
        "erased": erased,
        "all": true(),
    }


def list_page(
    state: AvgState,
    query: str = "",
    page: int | str | None = 1,
    *,
    special: bool,
    status: str = "current",
    sort: str = "name",
    descending: bool = False,
    page_size: int = PAGE_SIZE,
) -> MemberPage:
    """Page ``page`` of the members with ``status`` whose text columns contain ``query``,
    sorted by ``sort``; audited and committed. Two queries: the counts per status and
    the page.

    The columns are those the reader may see: special categories only when ``special``.
    ``page`` may be the raw query-string value: past the last page reads as the last
    page, a number no database could count to is a 404. Showing personal data of many
    members is audited as ``members.list`` (:func:`record_list_view`).
    """
    status = choice(status, STATUSES, "current")
    sort = choice(sort, SORTS, "name")
    page_size = page_size if page_size in PAGE_SIZES else PAGE_SIZE
    subject = state.registry.subject
    table = subject.table
    naming = subject_naming(state)
    exported = list(subject.exported_columns(special=special))
    shown = [c for c in naming.columns if c in exported]
    columns = [c for c in ("email",) if c in exported and c not in shown]
    anchor = subject.anchor_column
    conditions = status_conditions(state)
    found = search_condition(state, exported, query)
    session = state.db.session

    counts = {
        key: func.coalesce(func.sum(case((cond, 1), else_=0)), 0)
        for key, cond in conditions.items()
        if key != "all"
    }
    count_stmt = select(func.count().label("all"), *(c.label(k) for k, c in counts.items()))
    if found is not None:
        count_stmt = count_stmt.where(found)
    tally = session.execute(count_stmt.select_from(table)).mappings().one()
    by_status = {k: int(tally[k] or 0) for k in STATUSES}
    total = by_status[status]
    pages = max((total + page_size - 1) // page_size, 1)
    number = page_number(page, pages)

    rank = case(
        (conditions["erased"], literal(2)), (conditions["former"], literal(1)), else_=literal(0)
    )
    pk = subject.primary_key[0]
    wanted = dict.fromkeys([*shown, *columns])
    stmt = select(
        pk.label("avg_key"),
        rank.label("avg_status"),
        *(table.c[c] for c in wanted),
        *([anchor.label("avg_anchor")] if anchor is not None else []),
    ).where(conditions[status])
    if found is not None:
        stmt = stmt.where(found)
    name_cols = [table.c[c] for c in reversed(naming.name) if c in shown]
    number_col = [table.c[naming.number]] if naming.number in shown else []
    by: dict[str, list[Any]] = {
        "name": name_cols or number_col,
        "number": number_col or name_cols,
        "status": [rank, *name_cols],
    }
    keys = by[sort]
    order = [k.desc() if descending else k.asc() for k in keys]
    stmt = stmt.order_by(*order, pk).limit(page_size).offset((number - 1) * page_size)
    labels = ("current", "former", "erased")
    rows = []
    for row in session.execute(stmt).mappings():
        erased = row["avg_status"] == 2
        rows.append(
            MemberRow(
                key=row["avg_key"],
                label=subject_label(state, row, row["avg_key"]) if not erased else "",
                number=row.get(naming.number) if naming.number and not erased else None,
                status=labels[int(row["avg_status"])],
                anchor=row.get("avg_anchor"),
                values={c: row[c] for c in columns} if not erased else {},
            )
        )
    record_list_view(
        state,
        "members.list",
        len(rows),
        total=total,
        page=number,
        filtered=bool(query.strip()),
        special=special,
        columns=len(wanted),
        status=status,
    )
    state.db.session.commit()
    return MemberPage(
        rows,
        columns,
        total,
        number,
        pages,
        status=status,
        sort=sort,
        descending=descending,
        page_size=page_size,
        counts=by_status,
        naming=naming,
    )


def record_list_view(state: AvgState, action: str, rows: int, **detail: Any) -> None:
    """Audit that a page showed personal data of ``rows`` members: who (the actor), what
    (``action`` names the list; ``detail`` the filter as counts and flags) and how many.
    Never the values, nor the search text (it may be a member's name). The caller commits."""
    if rows:
        state.audit.record(action, detail={"rows": rows, **detail})


def view_member(state: AvgState, subject: Any, *, special: bool) -> SubjectData:
    """Everything held on ``subject`` for a board member; audited as ``members.view`` and committed."""
    data = collect(state, subject, special=special)
    state.audit.record("members.view", subject=data.subject_id)
    state.db.session.commit()
    return data


def member_label(state: AvgState, subject: Any) -> str:
    """The page title for one member: name and number, or "#key" when erased."""
    model = state.registry.subject
    key = model.key_of(subject)[0]
    if state.is_erased(model.name, key):
        return f"#{key}"
    return subject_label(state, subject, key)


__all__ = [
    "PAGE_SIZE",
    "PAGE_SIZES",
    "SORTS",
    "STATUSES",
    "MemberPage",
    "MemberRow",
    "choice",
    "list_page",
    "member_label",
    "page_size",
    "record_list_view",
    "status_conditions",
    "view_member",
]
