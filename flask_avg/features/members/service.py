"""The board's member list and member view as a Python API; the pages call these.

Viewing one member's data is audited (``members.view``) here, so a host page
that shows a member through :func:`view_member` leaves the same trace as the
board's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from flask_avg.core.converters import page_number
from flask_avg.core.presenters import SubjectData, collect, member_list_query

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

PAGE_SIZE = 50


@dataclass
class MemberPage:
    """One page of the member list: the rows (key and ``columns``) and where it stands."""

    rows: list[Any]
    columns: list[str]
    total: int
    page: int
    pages: int


def list_page(
    state: AvgState,
    query: str = "",
    page: int | str | None = 1,
    *,
    special: bool,
    page_size: int = PAGE_SIZE,
) -> MemberPage:
    """Page ``page`` of the members whose text columns contain ``query``; audited and committed.

    The columns are those the reader may see: special categories only when ``special``.
    ``page`` may be the raw query-string value: past the last page reads as the last
    page, a number no database could count to is a 404. Showing personal data of many
    members is audited as ``members.list`` (:func:`record_list_view`).
    """
    columns = list(state.registry.subject.exported_columns(special=special))
    stmt = member_list_query(state, columns, query)
    session = state.db.session
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = max((total + page_size - 1) // page_size, 1)
    number = page_number(page, pages)
    rows = list(session.execute(stmt.limit(page_size).offset((number - 1) * page_size)).mappings())
    record_list_view(
        state,
        "members.list",
        len(rows),
        total=total,
        page=number,
        filtered=bool(query.strip()),
        special=special,
        columns=len(columns),
    )
    state.db.session.commit()
    return MemberPage(rows, columns, total, number, pages)


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
