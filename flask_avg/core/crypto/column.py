"""The ``Encrypted`` column type: reads a value together with its row's key, refuses SQL
comparisons; the row's key as text in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    Column,
    String,
    Table,
    Text,
    cast,
    func,
    literal,
    or_,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import Null
from sqlalchemy.types import TypeDecorator

from flask_avg.core.config import ConfigurationError
from flask_avg.core.crypto.keyring import (
    SEP,
    TOKEN_PREFIXES,
    CryptoError,
    EncryptedComparisonError,
    associated_data,
    current_keyring,
)

# -- the row a value belongs to ------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace(SEP, "%7C")


def _is_text(col: Any) -> bool:
    return isinstance(getattr(col, "type", None), String)


def row_text(table: Table, values: Sequence[Any]) -> str | None:
    """The text of a row's primary key as :func:`row_sql` reads it, from the key's
    Python values; None when a part is missing or of a type whose text only the
    database knows for sure (then ask it: ``select(row_sql(...))``)."""
    pks = list(table.primary_key.columns)
    if not pks or len(values) != len(pks):
        return None
    parts: list[str] = []
    for col, value in zip(pks, values, strict=True):
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        elif isinstance(value, str) and _is_text(col):
            parts.append(_escape(value))
        else:
            return None
    return SEP.join(parts)


def row_sql(columns: Sequence[Any]) -> Any:
    """The row's key as text in SQL, parts joined by ``|`` (a ``|`` or ``%`` in a text
    key escaped as in URLs, so the join is unambiguous); NULL stays NULL."""
    parts: list[Any] = []
    for col in columns:
        text: Any = cast(col, String())
        if _is_text(col):
            text = func.replace(func.replace(text, "%", "%25"), SEP, "%7C", type_=String())
        parts.append(text)
    expr = parts[0]
    for part in parts[1:]:
        expr = expr + literal(SEP, String()) + part
    return expr


def _row_columns(table: Table, from_: Any) -> list[Any] | None:
    """The primary key of ``table`` as columns of ``from_`` (the table, an alias of it
    or a subquery over it); None when ``from_`` does not carry the whole key."""
    pks = list(table.primary_key.columns)
    if not pks or from_ is None:
        return None
    found = []
    for pk in pks:
        col = pk if from_ is table else from_.corresponding_column(pk)
        if col is None:
            return None
        found.append(col)
    return found


_NULL_TESTS = {
    operators.is_,
    operators.is_not,
    operators.is_distinct_from,
    operators.is_not_distinct_from,
}


def _refuse(op: Any, other: tuple[Any, ...]) -> None:
    if op in _NULL_TESTS and all(o is None or isinstance(o, Null) for o in other):
        return
    name = getattr(op, "__name__", str(op))
    raise EncryptedComparisonError(
        f"an encrypted column cannot be used in SQL with {name!r}: every stored value is "
        "random, so filters, joins, sorting and searching cannot see the plaintext "
        "(only IS NULL / IS NOT NULL work)"
    )


class Encrypted(TypeDecorator[str]):
    """Text stored encrypted (AES-256-GCM) under the app's keyring, bound to its row.

    One instance per column: it learns its table and column when attached and
    binds them, and the row's primary key, into every value. ``length`` is the
    longest plaintext the host allows; it is checked before encrypting (the stored
    text is longer).
    """

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__()
        self.length = length
        self._where: tuple[str, str] | None = None
        self._column: Column[Any] | None = None
        self._table: Table | None = None

    # -- where the value lives ------------------------------------------------
    def _set_parent(self, parent: Any, outer: bool = False, **kw: Any) -> None:
        if not isinstance(parent, Column):
            return
        if self._column is not None and self._column is not parent:
            raise ConfigurationError(
                f"one Encrypted() serves two columns ({self._column.name}, {parent.name}); "
                "give each column its own Encrypted()"
            )
        self._column = parent
        parent._on_table_attach(self._attach)

    def _attach(self, column: Column[Any], table: Table) -> None:
        self._where = (table.name, column.name)
        self._table = table

    def copy(self, **kw: Any) -> Encrypted:
        # a copy for a dialect keeps its column; a column's copy attaches anew
        twin = Encrypted(self.length)
        twin._where = self._where
        twin._table = self._table
        return twin

    @property
    def where(self) -> tuple[str, str]:
        if self._where is None:
            raise CryptoError("an Encrypted() type is used outside a table column")
        return self._where

    @property
    def aad(self) -> bytes:
        """The column-only associated data (format ``v1``)."""
        return associated_data(*self.where)

    # -- values -----------------------------------------------------------------
    @property
    def python_type(self) -> type:
        return str

    def column_expression(self, colexpr: Any) -> Any:
        """Select the row's key with the value: ``key || '|' || value``."""
        if self._table is None:
            return colexpr
        cols = _row_columns(self._table, getattr(colexpr, "table", None))
        if cols is None:
            return colexpr  # a v2 value read this way is refused by name
        joined = row_sql(cols) + literal(SEP, String()) + type_coerce(colexpr, Text())
        return type_coerce(joined, self)

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise CryptoError(f"{'.'.join(self.where)} stores text, not {type(value).__name__}")
        if self.length is not None and len(value) > self.length:
            raise ValueError(f"{'.'.join(self.where)} holds at most {self.length} characters")
        row = value.avg_row if isinstance(value, BoundText) else None
        keyring = current_keyring()
        if row is None and isinstance(value, BoundText):
            # an insert whose key the database makes: sealed to the new key after it
            keyring = replace(keyring, row_bound=False)
        return keyring.seal(str(value), *self.where, row)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("ascii", "replace")
        row, sep, token = value.rpartition(SEP)
        return current_keyring().open(token, *self.where, row if sep else None)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise CryptoError("encrypted values are never rendered into SQL text")

    class comparator_factory(TypeDecorator.Comparator[str]):  # noqa: N801 (SQLAlchemy's name)
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            _refuse(op, other)
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            _refuse(op, (other,))
            return super().reverse_operate(op, other, **kwargs)


def is_encrypted(col: Any) -> bool:
    return isinstance(getattr(col, "type", None), Encrypted)


def raw(col: Column[Any]) -> Any:
    """The column as stored text (ciphertext), for rotation and checks."""
    return type_coerce(col, Text())


def encrypted_columns(metadatas: Iterable[Any]) -> Iterator[Column[Any]]:
    """Every column of type :class:`Encrypted` in the given metadata, declared or not."""
    for metadata in metadatas:
        for table in metadata.sorted_tables:
            for col in table.columns:
                if is_encrypted(col):
                    yield col


class BoundText(str):
    """A plain text on its way into its row (set by the flush hooks): ``avg_row`` is
    the row's key text, or None while the database has yet to make the key."""

    avg_row: str | None = None


def bound_text(value: str, row: str | None) -> BoundText:
    out = BoundText(value)
    out.avg_row = row
    return out


def stored_sealed(col: Column[Any]) -> Any:
    """The stored values that start like an encrypted value."""
    stored = raw(col)
    return or_(*(stored.startswith(p, autoescape=True) for p in TOKEN_PREFIXES))


def stored_plain(col: Column[Any]) -> Any:
    """The stored values that are not encrypted (plain text from before the column was)."""
    return raw(col).is_not(None) & ~stored_sealed(col)
