"""SQL helpers shared by the kernel and the features."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, String, any_, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def key_in(session: Session, col: Any, keys: Sequence[Any]) -> ColumnElement[bool]:
    """``col IN keys`` for a list read before, as ONE parameter where the database
    allows: ``= ANY(:array)`` on PostgreSQL (planned much faster than thousands of
    parameters), ``IN (SELECT value FROM json_each(:json))`` on SQLite. The SQL
    text then never depends on the batch's size, so the driver's statement
    cache holds one entry, not one per list length (memory flat in the run's size).
    """
    keys = list(keys)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return col == any_(literal(keys, ARRAY(col.type)))  # type: ignore[no-any-return]
    if dialect == "sqlite" and all(type(k) in (int, str) for k in keys):
        each = func.json_each(literal(json.dumps(keys), String)).table_valued("value")
        return col.in_(select(each.c.value))  # type: ignore[no-any-return]
    return col.in_(keys)  # type: ignore[no-any-return]
