"""Anonymisers: the SQL value each personal column gets when its row is anonymised.

Chosen by column type, nullability and uniqueness unless the declaration says
otherwise (``personal(anonymise=..., anonymise_value=...)``). Every value is a
SQL expression, so anonymising is one ``UPDATE`` per batch, never a Python
loop. Unique columns get a value derived from the primary key
(``anon-42@anon.invalid``) so two anonymised rows never collide. The
retention anchor and the primary key are always kept.

A callable anonymiser is called as ``func(column, primary_key_column)`` and
returns a SQL expression or a constant.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Numeric,
    String,
    UniqueConstraint,
    and_,
    cast,
    false,
    literal,
    null,
    or_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from flask_avg.core.registry import DeclaredModel

KEEP = object()
PLACEHOLDER = "anon"
EPOCH_DATE = date(1900, 1, 1)
EPOCH_DATETIME = datetime(1900, 1, 1)


def _unique(col: Any) -> bool:
    if col.unique:
        return True
    for constraint in col.table.constraints:
        cols = getattr(constraint, "columns", None)
        if isinstance(constraint, UniqueConstraint) and cols is not None and list(cols) == [col]:
            return True
    return any(ix.unique and list(ix.columns) == [col] for ix in col.table.indexes)


def _pk_text(model: DeclaredModel) -> Any:
    return cast(model.primary_key[0], String(40))


class binary_text(FunctionElement[str]):  # noqa: N801 - reads like the SQL it stands for
    """Text compared byte for byte.

    MariaDB refuses ``<=>`` between a column's collation and the connection's
    (a value computed from the key has the latter), so both sides are turned
    into ``utf8mb4_bin`` there; elsewhere this is the bare expression.
    """

    type = String()
    name = "binary_text"
    inherit_cache = True


@compiles(binary_text)
def _binary_text_default(element: Any, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(binary_text, "mysql")
@compiles(binary_text, "mariadb")
def _binary_text_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"CONVERT({inner} USING utf8mb4) COLLATE utf8mb4_bin"


class Derived:
    """A value built from the primary key; ``pattern`` recognises it without comparing
    strings of different collations (MariaDB refuses ``<=>`` across collations)."""

    def __init__(self, expr: Any, pattern: str | None) -> None:
        self.expr = expr
        self.pattern = pattern


def _unique_text(model: DeclaredModel, col: Any, email: bool) -> Any:
    length = getattr(col.type, "length", None) or 255
    if email and length >= 40:
        expr = literal("anon-", String) + _pk_text(model) + literal("@anon.invalid", String)
        return Derived(expr, "anon-%@anon.invalid")
    if length >= 25:
        return Derived(literal("anon-", String) + _pk_text(model), "anon-%")
    return Derived(_pk_text(model), None)


def target(model: DeclaredModel, name: str) -> Any:
    """The SQL value for column ``name`` of ``model`` when anonymised, or :data:`KEEP`."""
    col = model.table.c[name]
    spec = model.columns.get(name)
    how: Any = spec.anonymise if spec is not None else "auto"
    if col.primary_key or name == model.policy.anchor or how == "keep":
        return KEEP
    if callable(how):
        return how(col, model.primary_key[0])
    if how == "null":
        return null()
    if how == "fixed":
        return literal(spec.anonymise_value if spec else None, col.type)
    if how == "mask":
        return literal("***", String)
    if how == "email":
        return _unique_text(model, col, email=True)
    if how == "hash":
        # A token derived from the key, not from the value: hashing the value
        # would be pseudonymisation, and the GDPR still counts that as personal.
        return _unique_text(model, col, email=False)
    return _auto(model, col)


def _auto(model: DeclaredModel, col: Any) -> Any:
    unique = _unique(col)
    if col.nullable and not unique:
        return null()
    typ = col.type
    if isinstance(typ, String):
        if unique:
            return _unique_text(model, col, email="mail" in col.name.lower())
        return literal(PLACEHOLDER, String)
    if col.nullable:
        return null()
    if isinstance(typ, Boolean):
        return false()
    if isinstance(typ, DateTime):
        return literal(EPOCH_DATETIME, typ)
    if isinstance(typ, Date):
        return literal(EPOCH_DATE, typ)
    if isinstance(typ, Integer | Numeric):
        return -model.primary_key[0] if unique else literal(0, typ)
    return KEEP


def values(model: DeclaredModel, null_fks: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{column: value}`` for anonymising rows of ``model`` (see :func:`sql`)."""
    out: dict[str, Any] = {}
    for name in model.columns:
        value = target(model, name)
        if value is not KEEP:
            out[name] = value
    for name in null_fks:
        out[name] = null()
    return out


def sql(vals: dict[str, Any]) -> dict[str, Any]:
    """The ``UPDATE ... SET`` values."""
    return {name: v.expr if isinstance(v, Derived) else v for name, v in vals.items()}


def not_anonymised(model: DeclaredModel, vals: dict[str, Any]) -> ColumnElement[bool]:
    """True for rows some column of which still differs from its anonymised value.

    This makes anonymising idempotent: a second purge finds nothing to do.
    """
    if not vals:
        return and_(false())
    table = model.table
    checks: list[Any] = []
    for name, value in vals.items():
        col = table.c[name]
        if isinstance(value, Derived) and value.pattern:
            checks.append(col.is_(None) | ~col.like(value.pattern))
        elif isinstance(value, Derived):
            checks.append(binary_text(col).is_distinct_from(binary_text(value.expr)))
        else:
            checks.append(col.is_distinct_from(value))
    return or_(*checks)
