"""The board's member list as a background job (``export.members``), for large clubs.

The same columns, search and cell safety as the in-request export
(:func:`~flask_avg.features.export.service.export_member_list`), written by the
same writers (:mod:`.lists`) into the job's private result file. Rows are read in keyset pages (``key > last`` in
pages of :data:`~flask_avg.features.export.lists.CHUNK`) rather than one long
cursor, so the job reports its progress between pages, and on SQLite the
progress writes are never blocked by a reader of the same file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jobs import JobContext, Kind
from flask_avg.core.presenters import app_name, member_list_query
from flask_avg.features.export.formats import LIST_FORMATS
from flask_avg.features.export.lists import (
    CHUNK,
    member_columns,
    member_headers,
    write_members_csv,
    write_members_xlsx,
)
from flask_avg.features.export.safety import safe_filename
from flask_avg.features.export.service import record_list_export

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

KIND = "export.members"


def register(state: AvgState) -> None:
    """Make the member-list job known to ``state.jobs`` (the export plugin's ``init_app``)."""
    state.jobs.register(
        Kind(
            KIND,
            run=run,
            action="avg.members.export",
            label=_l("Export of the list of %(subjects)s"),
            all_subjects=True,
        )
    )


def start(state: AvgState, fmt: str, *, query: str, special: bool, owner: str | None) -> Any:
    """Create the job (committed) and hand it to the runner; returns the job."""
    if fmt not in LIST_FORMATS:
        raise ValueError(f"unknown list format {fmt!r} (known: {', '.join(LIST_FORMATS)})")
    job = state.jobs.create(
        KIND,
        owner=owner,
        params={"format": fmt, "query": query[:200], "special": bool(special)},
    )
    state.db.session.commit()
    state.jobs.start(job)
    return job


def wanted(state: AvgState, query: str = "") -> bool:
    """Whether the board's list export runs as a job: the jobs' pages are mounted and
    the list holds more than ``AVG_EXPORT_JOB_ROWS`` members."""
    from flask import current_app

    if "avg_jobs.status" not in current_app.view_functions:
        return False
    return count(state, query) > int(current_app.config["AVG_EXPORT_JOB_ROWS"])


def count(state: AvgState, query: str = "") -> int:
    """How many members the list holds (decides whether it becomes a job)."""
    columns = member_columns(state, special=False)
    stmt = member_list_query(state, columns, query).order_by(None)
    return int(state.db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _pages(state: AvgState, stmt: Select[Any], ctx: JobContext, total: int) -> Iterator[Any]:
    """Rows by keyset pages, reporting progress after each page."""
    key = state.registry.subject.primary_key[0]
    session = state.db.session
    last: Any = None
    done = 0
    ctx.progress(0, total)
    while True:
        page = stmt if last is None else stmt.where(key > last)
        rows = session.execute(page.limit(CHUNK)).all()
        if not rows:
            break
        yield from rows
        done += len(rows)
        last = rows[-1][0]
        ctx.progress(min(done, total), total)
    ctx.progress(total, total)


def run(ctx: JobContext) -> int:
    """Write the member list the job's parameters ask for; returns the rows."""
    from flask import current_app

    state: AvgState = current_app.extensions["avg"]
    params = ctx.params
    fmt = LIST_FORMATS[params["format"]]
    query = str(params.get("query") or "")
    columns = member_columns(state, special=bool(params.get("special")))
    stmt = member_list_query(state, columns, query)
    headers = member_headers(state, columns)
    total = count(state, query)
    name = f"{safe_filename(app_name(), 'club')}-members.{fmt.extension}"
    write = write_members_xlsx if fmt.key == "xlsx" else write_members_csv
    with ctx.result_file(name, fmt.mimetype) as out:
        n = write(state, stmt, headers, out, rows=_pages(state, stmt, ctx, total))
    record_list_export(
        state, "export.members", fmt.key, n, actor=ctx.owner, filtered=bool(query), job=ctx.job_id
    )
    state.db.session.commit()
    return n
