"""Anonymisers: the SQL value each personal column gets when its row is anonymised.

Chosen by column type, nullability and uniqueness unless the declaration says
otherwise (``personal(anonymise=..., anonymise_value=...)``). Every value is a
SQL expression, so anonymising is one ``UPDATE`` per batch, never a Python
loop. Unique columns get a value derived from the primary key
(``anon-42@anon.invalid``) so two anonymised rows never collide. The
retention anchor and the primary key are always kept.

Secrets (``personal(secret=True)``, or a text column named like one: see
:func:`~flask_avg.core.registry.looks_secret`) become NULL, or when the column
is NOT NULL a fresh random value per row from the database's own random source
(``anon-`` and 32 hex digits where the column has room): a value derived from
the key could be guessed, and rotating a login token such as Flask-Security's
``fs_uniquifier`` is what ends the person's sessions. Undeclared secret columns of
an anonymised row are rotated too.

A callable anonymiser is called as ``func(column, primary_key_column)`` and
returns a SQL expression or a constant.

An encrypted column (:mod:`flask_avg.core.crypto`) anonymised with ``fixed`` gets the
value sealed once as an anonymised constant (format ``c2``, the same in every row, its
plain text public), so anonymising stays one ``UPDATE`` per batch and a second run
recognises it; every other anonymiser of an encrypted column gives NULL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BINARY,
    VARBINARY,
    Boolean,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
    and_,
    cast,
    false,
    literal,
    literal_column,
    null,
    or_,
    true,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer, Text

from flask_avg.core import crypto
from flask_avg.core.registry import DeclaredModel, is_secret, looks_secret

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
    """A value computed per row; ``pattern`` recognises it without comparing strings
    of different collations (MariaDB refuses ``<=>`` across collations).

    ``random`` values (secrets) differ on every evaluation: without a pattern
    nothing recognises them, so they do not decide whether a row still needs
    anonymising.
    """

    def __init__(self, expr: Any, pattern: str | None, *, random: bool = False) -> None:
        self.expr = expr
        self.pattern = pattern
        self.random = random


#: Random hex digits in a secret's replacement (128 bits), and its recognisable prefix.
RANDOM_HEX = 32
SECRET_PREFIX = "anon-"  # noqa: S105 - a marker, not a password


class _RandomFunction(FunctionElement[Any]):
    inherit_cache = True

    def __init__(self, size: int) -> None:
        # the size as literal SQL text: part of the statement's cache key
        super().__init__(literal_column(str(int(size))))

    @staticmethod
    def size(element: Any) -> int:
        return int(next(iter(element.clauses)).name)


class random_hex(_RandomFunction):  # noqa: N801 - reads like the SQL it stands for
    """``size`` random lowercase hex digits, drawn again for every row."""

    type = String()
    name = "random_hex"
    inherit_cache = True


class random_bytes(_RandomFunction):  # noqa: N801
    """``size`` random bytes, drawn again for every row."""

    type = LargeBinary()
    name = "random_bytes"
    inherit_cache = True


@compiles(random_hex)
@compiles(random_bytes)
def _random_unknown(element: Any, compiler: Any, **kw: Any) -> str:
    raise CompileError(
        f"flask-avg knows no random function of {compiler.dialect.name} to anonymise "
        "secrets with; declare the column nullable or give it an anonymiser"
    )


@compiles(random_hex, "sqlite")
def _random_hex_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    n = _RandomFunction.size(element)
    return f"substr(lower(hex(randomblob({(n + 1) // 2}))), 1, {n})"


@compiles(random_bytes, "sqlite")
def _random_bytes_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"randomblob({_RandomFunction.size(element)})"


def _pg_hex(n: int) -> str:
    # gen_random_uuid() (core since PostgreSQL 13) draws from the strong random
    # source; md5 spreads its 122 random bits over 32 even hex digits
    parts = " || ".join(["md5(gen_random_uuid()::text)"] * ((n + 31) // 32))
    return f"substr({parts}, 1, {n})"


@compiles(random_hex, "postgresql")
def _random_hex_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return _pg_hex(_RandomFunction.size(element))


@compiles(random_bytes, "postgresql")
def _random_bytes_pg(element: Any, compiler: Any, **kw: Any) -> str:
    n = _RandomFunction.size(element)
    return f"substring(decode({_pg_hex(2 * n)}, 'hex') from 1 for {n})"


def _mysql_bytes(dialect: Any, n: int) -> str:
    version = tuple(getattr(dialect, "server_version_info", None) or ())
    if getattr(dialect, "is_mariadb", False) and version and version < (10, 10):
        # RANDOM_BYTES arrived in MariaDB 10.10: before it, a hash of the session's
        # random number generator and a UUID, the best those servers offer
        mixed = "SHA2(CONCAT(UUID(), RAND(), CONNECTION_ID(), SYSDATE(6)), 512)"
        return f"SUBSTR(UNHEX({mixed}), 1, {n})"
    return f"RANDOM_BYTES({n})"


@compiles(random_hex, "mysql")
@compiles(random_hex, "mariadb")
def _random_hex_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    n = _RandomFunction.size(element)
    return f"SUBSTR(LOWER(HEX({_mysql_bytes(compiler.dialect, (n + 1) // 2)})), 1, {n})"


@compiles(random_bytes, "mysql")
@compiles(random_bytes, "mariadb")
def _random_bytes_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    return _mysql_bytes(compiler.dialect, _RandomFunction.size(element))


def _secret(col: Any) -> Any:
    """NULL, or a random value that fits the column (see the module's docstring)."""
    if col.nullable:
        return null()
    typ = col.type
    length = getattr(typ, "length", None)
    if isinstance(typ, String):
        room = length or 255
        if room >= len(SECRET_PREFIX) + 16:  # at least 64 random bits after the prefix
            n = min(RANDOM_HEX, room - len(SECRET_PREFIX))
            expr = literal(SECRET_PREFIX, String) + random_hex(n)
            return Derived(expr, SECRET_PREFIX + "%", random=True)
        return Derived(random_hex(min(room, RANDOM_HEX)), None, random=True)
    if isinstance(typ, LargeBinary | BINARY | VARBINARY):
        return Derived(random_bytes(min(length or 16, 16)), None, random=True)
    return KEEP


def _unique_text(model: DeclaredModel, col: Any, email: bool) -> Any:
    length = getattr(col.type, "length", None) or 255
    if email and length >= 40:
        expr = literal("anon-", String) + _pk_text(model) + literal("@anon.invalid", String)
        return Derived(expr, "anon-%@anon.invalid")
    if length >= 25:
        return Derived(literal("anon-", String) + _pk_text(model), "anon-%")
    return Derived(_pk_text(model), None)


def _sealed_constant(model: DeclaredModel, col: Any, value: Any, keyring: Any) -> Any:
    """A ``fixed`` value of an encrypted column: sealed once, the same in every row."""
    if value is None:
        return null()
    ring = keyring if keyring is not None else crypto.current_keyring()
    token = ring.seal_constant(str(value), model.table.name, col.name)
    return Derived(literal(token, Text()), f"{crypto.CONSTANT}:%")


def target(model: DeclaredModel, name: str, *, keyring: Any = None) -> Any:
    """The SQL value for column ``name`` of ``model`` when anonymised, or :data:`KEEP`.

    ``keyring`` seals a ``fixed`` value of an encrypted column (default: the app's)."""
    col = model.table.c[name]
    spec = model.columns.get(name)
    how: Any = spec.anonymise if spec is not None else "auto"
    if col.primary_key or name == model.policy.anchor or how == "keep":
        return KEEP
    if how in ("auto", "hash") and is_secret(col, spec):
        value = _secret(col)
        return _auto(model, col) if value is KEEP else value
    if callable(how):
        return how(col, model.primary_key[0])
    if how == "null":
        return null()
    if how == "fixed":
        if crypto.is_encrypted(col):
            return _sealed_constant(model, col, spec.anonymise_value if spec else None, keyring)
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


def values(
    model: DeclaredModel, null_fks: tuple[str, ...] = (), *, keyring: Any = None
) -> dict[str, Any]:
    """``{column: value}`` for anonymising rows of ``model`` (see :func:`sql`);
    ``keyring`` as for :func:`target`."""
    out: dict[str, Any] = {}
    for name in model.columns:
        value = target(model, name, keyring=keyring)
        if value is not KEEP:
            out[name] = value
    for col in model.table.columns:
        # an undeclared secret (a login token) would outlive the anonymised row's owner
        if col.name in model.columns or col.primary_key or col.foreign_keys:
            continue
        if looks_secret(col) and col.name != model.policy.anchor:
            value = _secret(col)
            if value is not KEEP:
                out[col.name] = value
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
        if crypto.is_encrypted(col):
            col = crypto.raw(col)  # compared as stored: SQL cannot see the plain text
        if isinstance(value, Derived) and value.random and not value.pattern:
            continue  # a fresh random value never equals the last one
        if isinstance(value, Derived) and value.pattern:
            checks.append(col.is_(None) | ~col.like(value.pattern))
        elif isinstance(value, Derived):
            checks.append(binary_text(col).is_distinct_from(binary_text(value.expr)))
        else:
            checks.append(col.is_distinct_from(value))
    # only unrecognisable random values: rotating them again does no harm
    return or_(*checks) if checks else and_(true())
