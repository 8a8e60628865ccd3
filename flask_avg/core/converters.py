"""Bounds on what a URL may carry: ids, page numbers and dates a database can hold.

Werkzeug's ``int`` converter takes any number of digits; 25 of them reach the
database as a value no integer column holds, and SQLite, PostgreSQL and
MariaDB each answer with an error (a 500). Every flask-avg route with an
integer id uses ``<avg_id:...>`` instead: a positive integer that fits a signed
64-bit column, anything else is a 404 before the view runs. Page numbers and
date filters from the query string go through :func:`page_number` and
:func:`query_date`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Flask, abort
from sqlalchemy import BigInteger, SmallInteger
from werkzeug.routing import IntegerConverter

#: The largest value a signed 64-bit integer column holds (SQLite's INTEGER too).
MAX_ID = 2**63 - 1
#: The largest key of flask-avg's own tables (``Integer``: 32 bits on PostgreSQL and
#: MariaDB, which refuse a larger value even in a comparison).
MAX_INT_ID = 2**31 - 1
#: Dates a filter or form may name: before 1900 or after 9998 is a typing error,
#: and 9999-12-31 plus one day is past what ``datetime`` holds.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9998, 12, 31)
#: The longest period in days a setting may name (retention, consent expiry): 100 years.
MAX_DAYS = 36_500


class IdConverter(IntegerConverter):
    """``<avg_id:name>``: an integer key 1 .. 2**31-1 (at most 10 ASCII digits), else no
    match (a 404). flask-avg's own tables use ``Integer`` keys; ``<avg_id(max=...):name>``
    widens it for a ``BigInteger`` key (at most 2**63-1)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Any, max: int = MAX_INT_ID) -> None:  # noqa: A002 - Werkzeug's names
        super().__init__(map, min=1, max=min(max, MAX_ID))


def register(app: Flask) -> None:
    """Make ``avg_id`` available to the app's URL rules (flask-avg's and the host's)."""
    app.url_map.converters.setdefault("avg_id", IdConverter)


def int_range(column_type: Any) -> tuple[int, int]:
    """The values an integer column of this SQLAlchemy type holds on every database."""
    if isinstance(column_type, SmallInteger):
        return -(2**15), 2**15 - 1
    if isinstance(column_type, BigInteger):
        return -(2**63), 2**63 - 1
    return -(2**31), 2**31 - 1


def in_id_range(value: Any, column_type: Any = None) -> bool:
    """Whether ``value`` is a positive int a key column of ``column_type`` (default:
    ``Integer``) can hold; looking up a larger one is an error on PostgreSQL and MariaDB."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return 1 <= value <= int_range(column_type)[1]


def page_number(raw: Any, pages: int) -> int:
    """A page number from the query string, within 1 .. ``pages``.

    Missing or not a number reads as 1, a number past the last page as the last
    page; one no database could count to (more than 2**63-1) is a 404.
    """
    text = str(raw or "").strip()
    if not text.isascii() or not text.isdigit():
        return 1
    if len(text) > 19 or int(text) > MAX_ID:
        abort(404)
    return min(max(int(text), 1), max(pages, 1))


#: Longest search or filter text taken from a query string.
MAX_QUERY = 200


def query_text(raw: Any, limit: int = MAX_QUERY) -> str:
    """A search or filter text from the query string: control characters dropped
    (PostgreSQL refuses a NUL in any string), trimmed, at most ``limit`` characters."""
    if not isinstance(raw, str):
        return ""
    text = "".join(ch for ch in raw if not (ch < "\x20" or "\x7f" <= ch <= "\x9f"))
    return text.strip()[:limit]


def add_days(day: Any, days: int) -> Any:
    """``day + days`` for a date or datetime; None when the result is past what
    ``datetime`` holds (a value stored by older code), so a page shows "–" instead of failing."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def query_date(raw: Any) -> date | None:
    """An ISO date from the query string within :data:`MIN_DATE` .. :data:`MAX_DATE`;
    None when missing, malformed or out of range (the filter is then ignored)."""
    if not raw or not isinstance(raw, str) or len(raw) > 10:
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return None
    return day if MIN_DATE <= day <= MAX_DATE else None
