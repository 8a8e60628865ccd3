"""Making values safe for spreadsheets and files: formulas, time zones, long text.

Nothing here imports pandas or xlsxwriter; these are plain functions the
writers call per cell.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

#: A spreadsheet runs a cell starting with one of these as a formula (CSV injection);
#: the full-width forms are read as their ASCII selves by some spreadsheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

#: Where a spreadsheet may start a new cell inside a value: after a list separator
#: (``,`` or ``;``, whichever the reader's locale uses; a reader that guesses the wrong
#: one also breaks the quoting), a tab, a double quote or a line break, and their
#: full-width forms. A trigger there is as dangerous as one at the start; white space
#: before it does not help (readers trim it).
_CELL_START = '(?:^|[,;\t\r\n"\uff02\uff0c\uff1b])[ \t\r\n\u00a0\u3000]*'  # noqa: RUF001
#: A sign followed by a plain number up to the next separator is a number, not a formula.
_SIGNED_NUMBER = '[+\\-\uff0b\uff0d](?=[\\d.]*\\d[\\d. ]*(?:$|[,;\t\r\n"]))'
_FORMULA = re.compile(
    rf"^(?=[\t\r\n])|({_CELL_START})(?=[=@\uff1d\uff20]|(?!{_SIGNED_NUMBER})[+\-\uff0b\uff0d])"
)
#: A whole cell that is a plain signed number (``-12.50``, ``+31 6 1234 5678``) is shown
#: as a number, never run: it stays as it is, so amounts and phone numbers read normally.
_NUMBER = re.compile(r"[+\-\uff0b\uff0d]?\d[\d .,]*")

#: Excel refuses longer cell text (characters).
EXCEL_CELL_LIMIT = 32_767

#: Appended to text cut at the Excel cell limit; the cover sheet explains it.
TRUNCATION_MARKER = " [...]"

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")


def is_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text``, or a part of it split off at a separator,
    quote or line break, as a formula."""
    if not text or _NUMBER.fullmatch(text):
        return False
    return _FORMULA.search(text) is not None


def neutralise(text: str) -> str:
    """Put a single quote before every place a spreadsheet could start a formula.

    That is a ``=``, ``+``, ``-`` or ``@`` (or its full-width form) at the start of the
    text or right after a ``,``, ``;``, tab, double quote or line break in it (spaces in
    between ignored), and a tab or line break that starts the text. A Dutch Excel
    splits an unquoted line on ``;`` and a reader guessing the wrong separator breaks
    the quoting, so each of those places may become the start of a cell. Plain signed
    numbers (``-12.50``, ``x;-5``) are numbers, never formulas, and stay as they are.
    ``neutralise(neutralise(t)) == neutralise(t)``.
    """
    if not is_formula(text):
        return text
    return _FORMULA.sub(lambda m: (m.group(1) or "") + "'", text)


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
        value = neutralise(value)
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
