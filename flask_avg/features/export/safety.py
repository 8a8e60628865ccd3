"""Making values safe for spreadsheets and files: formulas, time zones, long text.

Nothing here imports pandas or xlsxwriter; these are plain functions the
writers call per cell.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

#: A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Excel refuses longer cell text (characters).
EXCEL_CELL_LIMIT = 32_767

#: Appended to text cut at the Excel cell limit; the cover sheet explains it.
TRUNCATION_MARKER = " [...]"

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")


def neutralise(text: str) -> str:
    """Prefix a would-be formula with a single quote so it stays text."""
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def truncate(text: str, limit: int = EXCEL_CELL_LIMIT) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters with a marker; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER, True


def to_utc_naive(value: datetime) -> datetime:
    """Excel has no time zones: aware datetimes become naive UTC, naive ones stay."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def excel_value(value: Any) -> tuple[Any, bool]:
    """A cell value xlsxwriter writes as the right Excel type; and whether text was cut.

    Numbers stay numbers, dates real Excel dates, text is neutralised and cut
    at Excel's cell limit, anything else becomes its text.
    """
    if type(value) is str:  # the common case first
        if value.startswith(FORMULA_START):
            value = "'" + value
        if len(value) > EXCEL_CELL_LIMIT:
            return truncate(value)
        return value, False
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value, False
    if isinstance(value, datetime):
        return to_utc_naive(value), False
    if isinstance(value, date | time | timedelta):
        return value, False
    if isinstance(value, bytes):
        value = value.hex()
    return truncate(neutralise(str(value)))


def text_value(value: Any) -> str:
    """A value as CSV text: ISO 8601 dates (with offset when known), neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return neutralise(str(value))


def json_value(value: Any) -> Any:
    """A value for the JSON export: exact decimals as strings, ISO 8601 datetimes.

    Aware datetimes keep their offset (``2024-05-01T12:00:00+02:00``); naive
    ones are written as stored, without an offset. JSON is not a spreadsheet,
    so text is not neutralised.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def safe_filename(text: str, default: str = "export") -> str:
    """ASCII letters, digits, dot, dash and underscore only: safe in any header or zip."""
    cleaned = _FILENAME_UNSAFE.sub("_", text).strip("._")
    return cleaned[:80] or default


def sheet_name(text: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (31 characters, no ``[]:*?/\\``)."""
    base = _SHEET_UNSAFE.sub("_", text).strip("'") or "Sheet"
    base = base[:31]
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(name.lower())
    return name
