"""The board's bulk exports: the member list and the audit log, in constant memory.

Rows come from the database in chunks (``yield_per``; the background job's own
keyset pages, :mod:`.jobs`) and go straight into an xlsxwriter workbook in ``constant_memory`` mode or a CSV writer, which write
into an anonymous temporary file (no name on disk, gone when closed). Memory
stays flat whether the club has a hundred members or a hundred thousand.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Select, select

from flask_avg.core.models import AuditEntry
from flask_avg.features.export.document import column_type, translated
from flask_avg.features.export.formats import csv_delimiter
from flask_avg.features.export.safety import neutralise, text_value
from flask_avg.features.export.writers import (
    WORKBOOK_OPTIONS,
    cell_formats,
    column_width,
    write_cell,
)

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

CHUNK = 2000


def member_columns(state: AvgState, *, special: bool) -> list[str]:
    """The subject's columns the board member may see: the list page's columns."""
    return list(state.registry.subject.exported_columns(special=special))


def member_headers(state: AvgState, columns: list[str]) -> list[tuple[str, str]]:
    """(label, type) per exported column, the key first."""
    from flask_avg.core.presenters import column_label

    subject = state.registry.subject
    key = subject.primary_key[0].name
    return [("ID", "integer" if column_type(subject, key) == "integer" else "string")] + [
        (translated(column_label(subject, n)), column_type(subject, n)) for n in columns
    ]


def _chunks(session: Any, stmt: Select[Any]) -> Iterator[Any]:
    result = session.execute(stmt.execution_options(yield_per=CHUNK))
    yield from result


def spooled() -> IO[bytes]:
    """An anonymous temporary file: unlinked at once, never in a public folder."""
    return tempfile.TemporaryFile(prefix="avg-export-")  # noqa: SIM115 - closed by the caller


def write_members_xlsx(
    state: AvgState,
    stmt: Select[Any],
    headers: list[tuple[str, str]],
    out: IO[bytes],
    rows: Iterable[Any] | None = None,
) -> int:
    """The member list as one worksheet, written row by row; returns the row count.

    ``rows`` are the rows of ``stmt`` read some other way (the background job reads
    them in keyset pages, reporting progress); by default ``stmt`` in chunks."""
    import xlsxwriter

    # constant_memory keeps each sheet's rows in a scratch file; put those in a
    # private directory (mode 0700) that is removed even when writing fails.
    with tempfile.TemporaryDirectory(prefix="avg-export-") as scratch:
        book = xlsxwriter.Workbook(
            out, {**WORKBOOK_OPTIONS, "constant_memory": True, "tmpdir": scratch}
        )
        if rows is None:
            rows = _chunks(state.db.session, stmt)
        return _fill_members_sheet(book, rows, headers)


def _fill_members_sheet(book: Any, rows: Iterable[Any], headers: list[tuple[str, str]]) -> int:
    try:
        sheet = book.add_worksheet(translated("%(Subjects)s")[:31])
        head = book.add_format({"bold": True, "bottom": 1})
        formats = cell_formats(book)
        for i, (label, kind) in enumerate(headers):
            sheet.set_column(i, i, column_width(label, [], kind) if kind.startswith("date") else 22)
            sheet.write_string(0, i, neutralise(label), head)
        sheet.freeze_panes(1, 0)
        n = 0
        for row in rows:
            n += 1
            for i, value in enumerate(row):
                write_cell(sheet, n, i, value, formats)
        if n:
            sheet.autofilter(0, 0, n, len(headers) - 1)
    finally:
        book.close()
    return n


def write_members_csv(
    state: AvgState,
    stmt: Select[Any],
    headers: list[tuple[str, str]],
    out: IO[bytes],
    sep: str | None = None,
    rows: Iterable[Any] | None = None,
) -> int:
    """The member list as CSV, every field quoted; ``sep`` defaults to :func:`csv_delimiter`;
    ``rows`` as for :func:`write_members_xlsx`."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
    writer = csv.writer(
        text, delimiter=sep or csv_delimiter(), quoting=csv.QUOTE_ALL, lineterminator="\r\n"
    )
    writer.writerow([neutralise(label) for label, _kind in headers])
    n = 0
    for row in _chunks(state.db.session, stmt) if rows is None else rows:
        writer.writerow([text_value(v) for v in row])
        n += 1
    text.flush()
    text.detach()
    return n


AUDIT_COLUMNS = (
    "at",
    "actor",
    "action",
    "outcome",
    "subject",
    "model",
    "fields",
    "detail_json",
    "ip",
)


def write_audit_csv(state: AvgState, out: IO[bytes], sep: str | None = None) -> int:
    """The whole audit log, oldest first, every field quoted; ``sep`` is ``,`` or ``;``
    (Dutch Excel), by default :func:`csv_delimiter`."""
    table = AuditEntry.__table__
    stmt = select(*(table.c[n] for n in AUDIT_COLUMNS)).order_by(table.c.at, table.c.id)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
    writer = csv.writer(
        text, delimiter=sep or csv_delimiter(), quoting=csv.QUOTE_ALL, lineterminator="\r\n"
    )
    writer.writerow(AUDIT_COLUMNS)
    n = 0
    for row in _chunks(state.db.session, stmt):
        # ``at`` comes back aware (UTCDateTime): ISO 8601 with +00:00.
        writer.writerow([text_value(v) for v in row])
        n += 1
    text.flush()
    text.detach()
    return n
