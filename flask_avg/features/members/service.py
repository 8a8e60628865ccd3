"""The board's member list and member view as a Python API; the pages call these.

Viewing one member's data is audited (``members.view``) here, so a host page
that shows a member through :func:`view_member` leaves the same trace as the
board's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

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
    state: AvgState, query: str = "", page: int = 1, *, special: bool, page_size: int = PAGE_SIZE
) -> MemberPage:
    """Page ``page`` of the members whose text columns contain ``query``.

    The columns are those the reader may see: special categories only when ``special``.
    """
    columns = list(state.registry.subject.exported_columns(special=special))
    stmt = member_list_query(state, columns, query)
    session = state.db.session
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size)).mappings()
    pages = max((total + page_size - 1) // page_size, 1)
    return MemberPage(list(rows), columns, total, page, pages)


def view_member(state: AvgState, subject: Any, *, special: bool) -> SubjectData:
    """Everything held on ``subject`` for a board member; audited as ``members.view`` and committed."""
    data = collect(state, subject, special=special)
    state.audit.record("members.view", subject=data.subject_id)
    state.db.session.commit()
    return data
