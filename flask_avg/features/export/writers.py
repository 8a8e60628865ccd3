"""Lays an :class:`~.document.ExportDocument` out as Excel, JSON or a zip of CSV files.

xlsxwriter (Excel) is imported inside the writer, so
starting the app and serving ordinary pages never pays for them. Every writer writes to a binary
file object it is given (a ``BytesIO`` or an anonymous temporary file): an
export never lands in a folder anyone can browse.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from flask_avg import __version__
from flask_avg.features.export.document import (
    SCHEMA_ID,
    SCHEMA_VERSION,
    ExportDocument,
    ExportTable,
    translator,
)
from flask_avg.features.export.formats import csv_delimiter
from flask_avg.features.export.safety import (
    EXCEL_CELL_LIMIT,
    TRUNCATION_MARKER,
    excel_value,
    json_value,
    neutralise,
    safe_filename,
    sheet_name,
    text_value,
)

#: xlsxwriter options: text is always text, never a formula, URL or number.
WORKBOOK_OPTIONS: dict[str, Any] = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "remove_timezone": True,
}
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
MIN_WIDTH, MAX_WIDTH = 8, 60


def column_width(label: str, values: list[Any], kind: str) -> int:
    """A readable width: the longest of header and (sampled) values, within bounds."""
    if kind == "date":
        return max(len(label) + 2, 12)
    if kind == "datetime":
        return max(len(label) + 2, 20)
    longest = len(label)
    for value in values[:200]:
        if value is not None:
            longest = max(longest, len(value) if isinstance(value, str) else len(str(value)))
    return min(max(longest + 2, MIN_WIDTH), MAX_WIDTH)


# -- Excel ---------------------------------------------------------------------------


def write_xlsx(doc: ExportDocument, out: IO[bytes]) -> None:
    """A workbook: a cover sheet, then one sheet per model with readable headers.

    Cells are written straight through xlsxwriter with one typed call each
    (string, number, date) in a single pass: pandas' ``to_excel`` costs two
    to three times as much per cell for the same file (``bench/bench_export.py``).
    """
    import xlsxwriter

    _ = translator()
    book = xlsxwriter.Workbook(out, {**WORKBOOK_OPTIONS, "in_memory": True})
    try:
        taken: set[str] = set()
        # Sheets appear in the order they are added: the cover first, filled in last
        # (it reports how many values had to be cut).
        cover = book.add_worksheet(sheet_name(_("About this export"), taken))
        names = [sheet_name(table.label, taken) for table in doc.tables]
        head = book.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
        formats = cell_formats(book)
        truncated = 0
        for table, name in zip(doc.tables, names, strict=True):
            truncated += _write_table(book.add_worksheet(name), table, head, formats)
        _write_cover(book, cover, doc, names, truncated, _)
    finally:
        book.close()


def write_cell(sheet: Any, r: int, c: int, raw: Any, formats: dict[str, Any]) -> int:
    """Write one value with the typed xlsxwriter call; returns 1 when text was cut."""
    if raw is None:
        return 0
    value, cut = excel_value(raw)
    if isinstance(value, str):
        sheet.write_string(r, c, value)
        return int(cut)
    if isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif isinstance(value, int | float | Decimal):
        sheet.write_number(r, c, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(r, c, value, formats["datetime"])
    elif isinstance(value, date):
        sheet.write_datetime(r, c, value, formats["date"])
    else:  # time, timedelta
        sheet.write_datetime(r, c, value, formats["time"])
    return 0


def cell_formats(book: Any) -> dict[str, Any]:
    return {
        "date": book.add_format({"num_format": DATE_FORMAT}),
        "datetime": book.add_format({"num_format": DATETIME_FORMAT}),
        "time": book.add_format({"num_format": "hh:mm:ss"}),
    }


def _write_table(sheet: Any, table: ExportTable, head: Any, formats: dict[str, Any]) -> int:
    """One model's sheet; returns how many text values were cut at Excel's limit."""
    truncated = 0
    for r, row in enumerate(table.rows, start=1):
        for c, raw in enumerate(row):
            truncated += write_cell(sheet, r, c, raw, formats)
    sample = table.rows[:200]
    for i, col in enumerate(table.columns):
        sheet.write_string(0, i, neutralise(col.label), head)
        width = column_width(col.label, [row[i] for row in sample], col.type)
        sheet.set_column(i, i, width, formats.get(col.type))
    sheet.freeze_panes(1, 0)
    if table.rows:
        sheet.autofilter(0, 0, len(table.rows), len(table.columns) - 1)
    return truncated


def _write_cover(
    book: Any,
    sheet: Any,
    doc: ExportDocument,
    names: list[str],
    truncated: int,
    _: Callable[..., str],
) -> None:
    bold = book.add_format({"bold": True})
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    when = book.add_format({"num_format": DATETIME_FORMAT, "align": "left"})

    def text(row: int, col: int, value: Any, fmt: Any = None) -> None:
        sheet.write_string(row, col, neutralise(str(value))[:EXCEL_CELL_LIMIT], fmt)

    text(0, 0, _("Personal data of %(subject)s %(id)s", id=doc.subject_id), title)
    facts: list[tuple[str, Any]] = [
        (_("Controller (%(organisation)s)"), doc.club),
        (_("%(Subject)s"), doc.subject_id),
        (_("Exported at (UTC)"), doc.exported_at),
        (_("Exported by"), doc.exported_by or _("command line")),
        (
            _("Special categories included"),
            _("yes") if doc.special_included else _("no, not visible to the requester"),
        ),
    ]
    row = 2
    for label, value in facts:
        text(row, 0, label, bold)
        if isinstance(value, datetime):
            sheet.write_datetime(row, 1, excel_value(value)[0], when)
        else:
            text(row, 1, value)
        row += 1

    row += 1
    headers = [
        _("Category"),
        _("Purpose"),
        _("Legal basis"),
        _("Retention"),
        _("Recipients"),
        _("Sheets"),
    ]
    for col, label in enumerate(headers):
        text(row, col, label, head)
    for cat in doc.categories:
        row += 1
        label = cat.label + (f" ({_('special category')})" if cat.special else "")
        cells = [
            label,
            ", ".join(cat.purposes) or "–",
            "; ".join(cat.legal_bases) or "–",
            "; ".join(cat.retention) or _("as long as needed for the purpose"),
            ", ".join(cat.recipients) or _("nobody outside the %(organisation)s"),
            ", ".join(cat.models),
        ]
        for col, value in enumerate(cells):
            text(row, col, value, wrap)

    row += 2
    text(row, 0, _("Sheets"), bold)
    for table, name in zip(doc.tables, names, strict=True):
        row += 1
        text(row, 0, name)
        sheet.write_number(row, 1, len(table.rows))
        text(row, 2, _("rows"))
    row += 2
    notes = [
        _(
            "A single quote (') is put before =, +, -, @ at the start of a text or right "
            "after a separator, quote or line break in it, and before a tab or line break "
            "that starts it, so that spreadsheets show the text instead of running it as "
            "a formula."
        ),
        _("Dates and times are in UTC."),
    ]
    if truncated:
        notes.append(
            _(
                "%(count)s text value(s) were longer than Excel allows (%(limit)s characters) "
                "and were cut; the cut is marked with %(marker)s. "
                "The JSON export contains the full text.",
                count=truncated,
                limit=EXCEL_CELL_LIMIT,
                marker=TRUNCATION_MARKER.strip(),
            )
        )
    for note in notes:
        text(row, 0, note)
        row += 1
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 5, 36)


# -- JSON ----------------------------------------------------------------------------


def json_document(doc: ExportDocument, *, rows: bool = True) -> dict[str, Any]:
    """The export as a JSON-ready dict following ``schema-v1.json``."""
    categories = []
    for cat in doc.categories:
        models = []
        for table in doc.tables:
            idx = [i for i, c in enumerate(table.columns) if c.category == cat.key]
            if not idx:
                continue
            entry: dict[str, Any] = {
                "name": table.name,
                "label": table.label,
                "columns": [
                    {
                        "name": table.columns[i].name,
                        "label": table.columns[i].label,
                        "type": table.columns[i].type,
                        "special": table.columns[i].special,
                    }
                    for i in idx
                ],
                "row_count": len(table.rows),
                "deletion_date": _iso(table.deletion_date),
            }
            if rows:
                entry["rows"] = [
                    {
                        "key": [json_value(k) for k in key],
                        "values": {table.columns[i].name: json_value(row[i]) for i in idx},
                    }
                    for key, row in zip(table.keys, table.rows, strict=True)
                ]
            models.append(entry)
        categories.append(
            {
                "key": cat.key,
                "label": cat.label,
                "special": cat.special,
                "purposes": cat.purposes,
                "legal_bases": cat.legal_bases,
                "retention": cat.retention,
                "recipients": cat.recipients,
                "models": models,
            }
        )
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "export": {
            "controller": doc.club,
            "subject_id": json_value(doc.subject_id),
            "exported_at": doc.exported_at.isoformat(),
            "exported_by": doc.exported_by,
            "special_categories_included": doc.special_included,
            "generator": f"flask-avg {__version__}",
        },
        "categories": categories,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def write_json(doc: ExportDocument, out: IO[bytes]) -> None:
    """One UTF-8 JSON document (``ensure_ascii`` off: names stay readable)."""
    text = json.dumps(json_document(doc), ensure_ascii=False, indent=2)
    out.write(text.encode("utf-8"))


# -- CSV -----------------------------------------------------------------------------


def table_csv(table: ExportTable, sep: str = ";") -> bytes:
    """One model as CSV: readable headers, ISO dates, neutralised text, every field quoted,
    UTF-8 with BOM (so Excel reads accents, emoji and Arabic correctly)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, delimiter=sep, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralise(c.label) for c in table.columns])
    writer.writerows([text_value(v) for v in row] for row in table.rows)
    return buf.getvalue().encode("utf-8")


def write_csv_zip(doc: ExportDocument, out: IO[bytes], sep: str | None = None) -> None:
    """A zip: ``metadata.json`` (the cover information) and one CSV per model.

    ``sep`` defaults to :func:`~.formats.csv_delimiter` (``;`` on a Dutch page).
    """
    sep = sep or csv_delimiter()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        meta = json.dumps(json_document(doc, rows=False), ensure_ascii=False, indent=2)
        zf.writestr("metadata.json", meta.encode("utf-8"))
        for n, table in enumerate(doc.tables, start=1):
            zf.writestr(f"{n:02d}_{safe_filename(table.name)}.csv", table_csv(table, sep))


WRITERS = {"xlsx": write_xlsx, "json": write_json, "csv": write_csv_zip}


def write(doc: ExportDocument, fmt: str, out: IO[bytes]) -> None:
    WRITERS[fmt](doc, out)
