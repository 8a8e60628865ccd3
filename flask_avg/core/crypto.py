"""Encrypted columns: AES-256-GCM per value, bound to its row, a keyring, and the checks made
at ``init_app``.

A host stores a column encrypted by giving it the type :class:`Encrypted`
(``mapped_column(Encrypted(), info=personal("health", encrypted=True))``). Each value
is written as ``v2:<key id>:<base64(nonce, ciphertext, tag)>``: the format version,
the id of the key that sealed it, and a fresh 96-bit nonce. The table, the column and
the row's primary key are bound as associated data, so a value copied into another
column or another row does not decrypt. Keys come from ``AVG_ENCRYPTION_KEYS`` (or the
environment variable of that name) as ``"k2:<base64>,k1:<base64>"``: the first key
writes, every key reads. ``flask avg rotate-keys`` re-encrypts everything under the
first, and upgrades older values to the current format.

How the row is known. Reading: the type's ``column_expression`` selects the row's
primary key with the value (``CAST(id AS VARCHAR) || '|' || notes``), for ORM and
Core selects alike. Writing: a bind parameter does not know its row, so the ORM's
flush hooks hand the value its row (:func:`install`): an update of a loaded row binds
its key at once, an insert whose key the database makes is written bound to the
column only (format ``v1``) and sealed to its new key by one ``UPDATE`` in the same
transaction. flask-avg's own set-based writers (rotation, encrypt-existing) seal with
the row's key directly. A Core ``insert()``/``update()`` outside the ORM writes
``v1``; ``rotate-keys`` upgrades those, and ``AVG_ENCRYPTION_ROW_BOUND`` refuses them.

Anonymised constants (``personal(anonymise="fixed")`` on an encrypted column) are the
one value that is deliberately the same in every row: format ``c2``, a deterministic
seal bound to table and column (:meth:`Keyring.seal_constant`), so erasure stays one
``UPDATE`` per batch and recognises what it already did. Its plain text is public.

Nothing here ever falls back to plaintext: a value that does not decrypt raises
:class:`DecryptionError`, and a missing or wrong key stops the app at start-up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app, has_app_context
from sqlalchemy import (
    Column,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    cast,
    event,
    func,
    inspect,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import Null
from sqlalchemy.types import TypeDecorator

from flask_avg.core.config import ConfigurationError

log = logging.getLogger(__name__)

#: the format written: bound to table, column and row
FORMAT = "v2"
#: the first format, bound to table and column only: still read (see AVG_ENCRYPTION_ROW_BOUND)
V1 = "v1"
#: an anonymised constant: the same sealed value in every row of a column
CONSTANT = "c2"
FORMATS = (V1, FORMAT, CONSTANT)
ENV = "AVG_ENCRYPTION_KEYS"
STRICT = "AVG_ENCRYPTION_ROW_BOUND"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
NONCE_BYTES = 12
_TOKEN = re.compile(r"^([vc][0-9]+):([A-Za-z0-9_-]{1,16}):([A-Za-z0-9+/=]+)$")
#: what a stored value starts with when it is (or claims to be) an encrypted value
TOKEN_PREFIXES = tuple(f"{v}:" for v in FORMATS)
#: between the row's key and the value in what ``column_expression`` selects; a
#: stored value never holds it, and a key of text has it escaped (see :func:`row_sql`)
SEP = "|"


class CryptoError(RuntimeError):
    """Encryption cannot be done here (no keyring, a value of the wrong type)."""


class DecryptionError(CryptoError):
    """A stored value does not decrypt: wrong key, unknown key, moved or altered."""


class EncryptedComparisonError(CryptoError):
    """SQL cannot compare, sort or search an encrypted column: every value is random."""


def generate_key() -> str:
    """A fresh 256-bit key, base64-encoded, for ``AVG_ENCRYPTION_KEYS``."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Keyring:
    """The keys by id; ``primary`` writes, every key reads. With ``row_bound`` (set from
    ``AVG_ENCRYPTION_ROW_BOUND``) values not bound to their row are refused."""

    primary: str
    keys: dict[str, bytes]
    row_bound: bool = False
    #: one AESGCM object per key id, made on first use (making one costs more than a seal)
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            cipher = self._ciphers[kid] = AESGCM(self.keys[kid])
        return cipher

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> Keyring:
        """``"k2:<base64>,k1:<base64>"`` (or a list of ``"id:base64"``); the first is primary."""
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for raw_item in items:
            item = raw_item.strip()
            if not item:
                continue
            kid, sep, material = item.partition(":")
            if not sep or not KEY_ID.match(kid):
                raise ConfigurationError(
                    f"{ENV}: each key is written id:base64 with an id of letters, digits, "
                    "'-' or '_' (at most 16), e.g. 'k2:...,k1:...'"
                )
            try:
                key = base64.b64decode(material.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(f"{ENV}: key {kid!r} is not valid base64") from None
            if len(key) != 32:
                raise ConfigurationError(
                    f"{ENV}: key {kid!r} is {len(key)} bytes; AES-256 needs 32 "
                    "(make one with 'flask avg generate-key')"
                )
            if kid.lower() in {k.lower() for k in keys}:
                # MariaDB compares text without case: ids must differ in more than case
                raise ConfigurationError(f"{ENV}: key id {kid!r} is given twice")
            keys[kid] = key
            order.append(kid)
        if not order:
            raise ConfigurationError(f"{ENV} holds no key")
        return cls(primary=order[0], keys=keys)

    def _seal(self, version: str, plaintext: str, aad: bytes, nonce: bytes | None = None) -> str:
        nonce = nonce or os.urandom(NONCE_BYTES)
        sealed = self._cipher(self.primary).encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{version}:{self.primary}:{base64.b64encode(nonce + sealed).decode()}"

    def seal(self, plaintext: str, table: str, column: str, row: str | None) -> str:
        """``plaintext`` sealed for ``table.column`` of the row whose key text is ``row``
        (see :func:`row_text`); ``row=None`` seals for the column only (format ``v1``),
        for a row whose key is not known yet."""
        if row is None:
            if self.row_bound:
                raise CryptoError(
                    f"{table}.{column}: this write does not know its row, and {STRICT} "
                    "refuses values not bound to their row; write through the ORM session"
                )
            return self._seal(V1, plaintext, associated_data(table, column))
        return self._seal(FORMAT, plaintext, row_associated_data(table, column, row))

    def seal_constant(self, plaintext: str, table: str, column: str) -> str:
        """The one sealed value of ``plaintext`` for every row of ``table.column`` under
        the primary key (format ``c2``): the nonce is derived from key, place and text,
        so sealing it again gives the same value. For public constants only (anonymised
        values): whoever sees two equal ``c2`` values knows their plain text is equal."""
        aad = constant_associated_data(table, column)
        mac = hmac.new(self.keys[self.primary], b"nonce|" + aad, hashlib.sha256)
        mac.update(plaintext.encode("utf-8"))
        return self._seal(CONSTANT, plaintext, aad, mac.digest()[:NONCE_BYTES])

    def open(self, token: str, table: str, column: str, row: str | None) -> str:
        """The plain text of a stored value of ``table.column`` in the row whose key text
        is ``row`` (None: the query did not select it)."""
        version = split_token(token)[0]
        if version == FORMAT:
            if row is None:
                raise DecryptionError(
                    f"{table}.{column}: the value is bound to its row, and the query did not "
                    "select the row's primary key with it (a subquery that drops the key?)"
                )
            aad = row_associated_data(table, column, row)
        elif version == V1:
            if self.row_bound:
                raise DecryptionError(
                    f"{table}.{column}: the value is bound to its column only (format v1) "
                    f"and {STRICT} refuses those; run 'flask avg rotate-keys'"
                )
            aad = associated_data(table, column)
        elif version == CONSTANT:
            aad = constant_associated_data(table, column)
        else:
            raise DecryptionError(f"unknown encrypted-value format {version!r}")
        return self.decrypt(token, aad)

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        """``plaintext`` sealed with ``aad`` in the column-only format (``v1``)."""
        return self._seal(V1, plaintext, aad)

    def decrypt(self, token: str, aad: bytes) -> str:
        version, kid, body = split_token(token)
        if version not in FORMATS:
            raise DecryptionError(f"unknown encrypted-value format {version!r}")
        if kid not in self.keys:
            raise DecryptionError(
                f"the value is encrypted with key {kid!r}, which {ENV} does not hold"
            )
        try:
            raw_bytes = base64.b64decode(body, validate=True)
            cipher = self._cipher(kid)
            plain = cipher.decrypt(raw_bytes[:NONCE_BYTES], raw_bytes[NONCE_BYTES:], aad)
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(
                f"the value does not decrypt with key {kid!r}: a wrong key, or a value "
                "altered or moved from another column or row"
            ) from None
        return plain.decode("utf-8")


def split_token(token: str) -> tuple[str, str, str]:
    """``(version, key id, body)`` of a stored value; anything else is refused."""
    found = _TOKEN.match(token) if isinstance(token, str) else None
    if found is None:
        raise DecryptionError("the stored value is not an encrypted value (plaintext?)")
    return found.group(1), found.group(2), found.group(3)


def looks_sealed(value: str) -> bool:
    """Whether a stored text claims to be an encrypted value (starts like one)."""
    return value.startswith(TOKEN_PREFIXES)


def key_prefix(kid: str, version: str = FORMAT) -> str:
    """What every value sealed with key ``kid`` in ``version`` starts with."""
    return f"{version}:{kid}:"


def associated_data(table: str, column: str) -> bytes:
    """What a ``v1`` value is bound to: its table and column."""
    return f"flask-avg|{table}|{column}".encode()


def row_associated_data(table: str, column: str, row: str) -> bytes:
    """What a ``v2`` value is bound to: its table, column and row (the key's text)."""
    return f"flask-avg|v2|{table}|{column}|{row}".encode()


def constant_associated_data(table: str, column: str) -> bytes:
    return f"flask-avg|c2|{table}|{column}".encode()


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


def keyring_from_config(app: Flask) -> Keyring | None:
    """``AVG_ENCRYPTION_KEYS`` from the config, else from the environment; None when neither."""
    spec = app.config.get(ENV) or os.environ.get(ENV)
    return Keyring.parse(spec) if spec else None


def current_keyring() -> Keyring:
    if not has_app_context():
        raise CryptoError("encrypted columns are read and written inside the app context")
    keyring: Keyring | None = getattr(current_app.extensions.get("avg"), "keyring", None)
    if keyring is None:
        raise CryptoError(f"no encryption keys: set {ENV}")
    return keyring


#: operators an encrypted column allows: a test for NULL (which erasure needs)
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
        row = value.avg_row if isinstance(value, _Bound) else None
        keyring = current_keyring()
        if row is None and isinstance(value, _Bound):
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


class _Bound(str):
    """A plain text on its way into its row (set by the flush hooks): ``avg_row`` is
    the row's key text, or None while the database has yet to make the key."""

    avg_row: str | None = None


def _bound(value: str, row: str | None) -> _Bound:
    out = _Bound(value)
    out.avg_row = row
    return out


# -- the ORM hands each value its row (see the module doc) ------------------------------

_sealed_attrs: weakref.WeakKeyDictionary[Any, list[tuple[str, Column[Any]]]] = (
    weakref.WeakKeyDictionary()
)
_installed = False


def _attrs(mapper: Any) -> list[tuple[str, Column[Any]]]:
    """``(attribute key, column)`` of the mapper's encrypted columns."""
    found = _sealed_attrs.get(mapper)
    if found is None:
        found = [
            (prop.key, col)
            for prop in mapper.column_attrs
            for col in prop.columns
            if isinstance(col, Column) and is_encrypted(col) and col.table in mapper.tables
        ]
        _sealed_attrs[mapper] = found
    return found


def _key_values(mapper: Any, state: Any, table: Table) -> list[Any]:
    out = []
    for pk in table.primary_key.columns:
        try:
            prop = mapper.get_property_by_column(pk)
        except Exception:  # noqa: BLE001 (a key column the mapper does not map)
            return []
        out.append(state.dict.get(prop.key))
    return out


def _before_flush_row(mapper: Any, connection: Any, target: Any, insert: bool) -> None:
    attrs = _attrs(mapper)
    if not attrs:
        return
    state = inspect(target)
    moved = False
    if not insert:
        moved = any(
            state.attrs[mapper.get_property_by_column(pk).key].history.has_changes()
            for table in {col.table for _, col in attrs}
            for pk in table.primary_key.columns
        )
    for key, col in attrs:
        if not insert and not moved and not state.attrs[key].history.has_changes():
            continue
        value = getattr(target, key) if moved else state.dict.get(key)
        if value is None or not isinstance(value, str):
            continue  # None is NULL; a wrong type is refused by the column's type
        row = row_text(col.table, _key_values(mapper, state, col.table))
        state.dict[key] = _bound(value, row)
        if moved:
            from sqlalchemy.orm.attributes import flag_modified

            flag_modified(target, key)


def _after_flush_row(mapper: Any, connection: Any, target: Any) -> None:
    attrs = _attrs(mapper)
    if not attrs:
        return
    state = inspect(target)
    late: dict[Table, dict[str, str]] = {}
    for key, col in attrs:
        value = state.dict.get(key)
        if isinstance(value, _Bound):
            state.dict[key] = str(value)  # the object keeps a plain str
            if value.avg_row is None:
                late.setdefault(col.table, {})[col.name] = str(value)
    for table, plain in late.items():
        keys = _key_values(mapper, state, table)
        _seal_in_row(connection, table, keys, plain)


def _seal_in_row(connection: Any, table: Table, keys: list[Any], plain: dict[str, str]) -> None:
    """Seal ``{column: plain text}`` to the row with primary key ``keys`` (written
    column-bound a moment ago): one ``UPDATE``."""
    pks = list(table.primary_key.columns)
    where = and_(*(pk == value for pk, value in zip(pks, keys, strict=True)))
    row = row_text(table, keys)
    if row is None:
        row = connection.scalar(select(row_sql(pks)).where(where))
    if row is None:
        raise CryptoError(f"{table.name}: the row just written has no key to seal its values to")
    keyring = current_keyring()
    sealed = {
        name: type_coerce(keyring.seal(text, table.name, name, row), Text())
        for name, text in plain.items()
    }
    connection.execute(update(table).where(where).values(sealed))


def _bulk_insert(orm_state: Any) -> Any:
    """``session.execute(insert(Model), [rows])``: the ORM's bulk insert skips the
    flush hooks, so rows are sealed here: to the key a row names, or to the key the
    database returns (``RETURNING``), one ``UPDATE`` per batch."""
    if not orm_state.is_insert or not orm_state.is_executemany:
        return None
    stmt = orm_state.statement
    table = getattr(stmt, "table", None)
    mapper = orm_state.bind_mapper
    if not isinstance(table, Table) or mapper is None:
        return None
    table = table._deannotate()  # the ORM's statement names an annotated copy
    attrs = [(k, c) for k, c in _attrs(mapper) if c.table is table]
    pks = list(table.primary_key.columns)
    if not attrs or not pks:
        return None
    rows: list[dict[str, Any]] = list(orm_state.parameters)
    pk_keys = [mapper.get_property_by_column(pk).key for pk in pks]
    texts = [row_text(table, [r.get(k) for k in pk_keys]) for r in rows]
    if all(t is not None for t in texts):
        params = [
            {k: _bound(r[k], t) for k, _ in attrs if isinstance(r.get(k), str)}
            for r, t in zip(rows, texts, strict=True)
        ]
        return orm_state.invoke_statement(params=params)
    dialect = orm_state.session.get_bind(mapper=mapper).dialect
    if stmt._returning or not getattr(dialect, "insert_returning", False):
        return None  # written column-bound; rotate-keys seals them to their rows
    params = [{k: _bound(r[k], None) for k, _ in attrs if isinstance(r.get(k), str)} for r in rows]
    result = orm_state.invoke_statement(
        statement=stmt.returning(*pks, sort_by_parameter_order=True), params=params
    )
    made = result.all()
    keyring = current_keyring()
    conn = orm_state.session.connection(bind_arguments={"mapper": mapper})
    by_cols: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r, key in zip(rows, made, strict=True):
        plain = {c.name: r[k] for k, c in attrs if isinstance(r.get(k), str)}
        if not plain:
            continue
        row = row_text(table, list(key)) or conn.scalar(
            select(row_sql(pks)).where(and_(*(pk == v for pk, v in zip(pks, key, strict=True))))
        )
        entry = {f"avg_k{i}": v for i, v in enumerate(key)}
        entry.update({f"avg_v_{n}": keyring.seal(t, table.name, n, row) for n, t in plain.items()})
        by_cols.setdefault(tuple(sorted(plain)), []).append(entry)
    for names, entries in by_cols.items():
        conn.execute(
            update(table)
            .where(*(pk == bindparam(f"avg_k{i}") for i, pk in enumerate(pks)))
            .values({n: type_coerce(bindparam(f"avg_v_{n}"), Text()) for n in names}),
            entries,
        )
    return result


def install() -> None:
    """Add the flush hooks that bind encrypted values to their rows (once per process)."""
    global _installed
    if _installed:
        return
    from sqlalchemy.orm import Mapper, Session

    event.listen(Mapper, "before_insert", lambda m, c, t: _before_flush_row(m, c, t, insert=True))
    event.listen(Mapper, "before_update", lambda m, c, t: _before_flush_row(m, c, t, insert=False))
    event.listen(Mapper, "after_insert", _after_flush_row)
    event.listen(Mapper, "after_update", _after_flush_row)
    event.listen(Session, "do_orm_execute", _bulk_insert)
    _installed = True


def host_metadatas(db: Any) -> dict[str | None, Any]:
    """The host's metadata per bind key (Flask-SQLAlchemy 3: ``db.metadatas``)."""
    found = getattr(db, "metadatas", None)
    return dict(found) if found else {None: db.metadata}


# -- checks at init_app ----------------------------------------------------------


def declaration_errors(registry: Any, state: Any) -> list[str]:
    """What is wrong with the encrypted columns the host declared (see the module doc)."""
    errors: list[str] = []
    login_email = _login_email_column(state)
    for model in registry:
        table = model.table
        for col in table.columns:
            spec = model.columns.get(col.name)
            enc = is_encrypted(col)
            where = f"{model.name}.{col.name}"
            if spec is not None and spec.encrypted and not enc:
                errors.append(
                    f"{where}: declared encrypted but its type is {col.type}; "
                    "give it the type flask_avg.Encrypted()"
                )
            if not enc:
                continue
            errors.extend(_column_errors(col, where))
            if col.name == model.policy.anchor:
                errors.append(f"{where}: the retention anchor cannot be encrypted")
            if col.name in model.policy.routes:
                errors.append(f"{where}: a column named in via= joins rows and cannot be encrypted")
            if any(s.party == col.name for s in model.columns.values()):
                errors.append(
                    f"{where}: a party= column is compared in SQL and cannot be encrypted"
                )
            if login_email is not None and col is login_email:
                errors.append(
                    f"{where}: users are looked up by this column and it cannot be encrypted"
                )
            if spec is None:
                continue
            if isinstance(spec.anonymise, str) and spec.anonymise in ("mask", "email", "hash"):
                errors.append(
                    f"{where}: anonymise={spec.anonymise!r} writes a marker in plain text; "
                    "an encrypted column is blanked to NULL (or anonymise='fixed')"
                )
            if spec.anonymise == "auto" and not col.nullable:
                errors.append(
                    f"{where}: erasure blanks an encrypted value to NULL; make the column "
                    "nullable or declare anonymise='fixed' with a value"
                )
    return errors


def _column_errors(col: Column[Any], where: str) -> list[str]:
    table = col.table
    errors: list[str] = []
    if col.primary_key:
        errors.append(f"{where}: a primary key cannot be encrypted")
    if col.foreign_keys:
        errors.append(f"{where}: a foreign key cannot be encrypted")
    why = "every value is encrypted with a fresh nonce, so equal values never look equal"
    if col.unique or any(
        isinstance(c, UniqueConstraint) and col.name in c.columns for c in table.constraints
    ):
        errors.append(f"{where}: an encrypted column cannot be unique ({why})")
    if col.index or any(col.name in ix.columns for ix in table.indexes):
        errors.append(f"{where}: an encrypted column cannot be indexed ({why})")
    return errors


def _login_email_column(state: Any) -> Any:
    if state.ext._user_lookup is not None:
        return None
    try:
        model = state.user_model
    except Exception:  # noqa: BLE001 (no login model found: nothing looked up by e-mail)
        return None
    prop = getattr(model, "email", None) if model is not None else None
    cols = getattr(getattr(prop, "property", None), "columns", None)
    return cols[0] if cols else None


def init_app(app: Flask, state: Any) -> Keyring | None:
    """Read the keyring, refuse bad declarations, and prove the keys on stored values.

    Raises :class:`ConfigurationError` with the reason; never starts without keys
    when an encrypted column exists.
    """
    metadatas = host_metadatas(state.db)
    columns = list(encrypted_columns(metadatas.values()))
    keyring = keyring_from_config(app)
    if keyring is not None and app.config.get(STRICT):
        keyring = replace(keyring, row_bound=True)
    install()
    errors = declaration_errors(state.registry, state)
    if columns and keyring is None:
        names = ", ".join(f"{c.table.name}.{c.name}" for c in columns)
        errors.append(
            f"{names} {'is' if len(columns) == 1 else 'are'} encrypted but no key is set: "
            f"set {ENV} (config or environment) to 'id:base64', e.g. from 'flask avg generate-key'"
        )
    if errors:
        raise ConfigurationError(
            "flask-avg cannot store encrypted columns safely:\n  " + "\n  ".join(errors)
        )
    if keyring is not None and columns:
        with app.app_context():
            verify_stored(state.db, metadatas, keyring)
    return keyring


def verify_stored(db: Any, metadatas: dict[str | None, Any], keyring: Keyring) -> None:
    """Decrypt the first stored value of every encrypted column: a wrong or missing key
    is found before the first page is served. Plain text left in an encrypted column
    (before ``flask avg encrypt-existing`` ran) is logged, never shown; with
    ``AVG_ENCRYPTION_ROW_BOUND`` a value not bound to its row stops the start."""
    for bind, metadata in metadatas.items():
        try:
            engine = db.engines[bind]
        except (KeyError, AttributeError):
            engine = db.engine
        cols = list(encrypted_columns([metadata]))
        if not cols:
            continue
        try:
            with engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
                for col in cols:
                    if col.table.name not in present:
                        continue
                    problem = _first_problem(conn, col, keyring)
                    if problem:
                        conn.close()
                        engine.dispose()  # the app will not start: leave no connection
                        raise ConfigurationError(
                            f"{col.table.name}.{col.name}: {problem}. Check {ENV}; flask-avg "
                            "does not start with keys that cannot read the stored values"
                        )
        except sa_exc.OperationalError as err:
            log.warning("flask-avg could not check the encryption keys: %s", err)


def _first_problem(conn: Any, col: Column[Any], keyring: Keyring) -> str | None:
    stored = raw(col)
    table, name = col.table.name, col.name
    pks = list(col.table.primary_key.columns)
    row = row_sql(pks) if pks else literal(None, String())
    first = conn.execute(select(row, stored).where(_sealed(col)).limit(1)).first()
    if first is not None:
        try:
            keyring.open(first[1], table, name, first[0])
        except DecryptionError as err:
            return str(err)
    if keyring.row_bound:
        old = select(stored).where(stored.startswith(f"{V1}:")).limit(1)
        if conn.execute(old).first() is not None:
            return (
                f"values bound to their column only (format v1) remain and {STRICT} "
                "refuses them; run 'flask avg rotate-keys' before setting it"
            )
    if conn.execute(select(stored).where(_plain(col)).limit(1)).first() is not None:
        log.warning(
            "%s.%s holds plain text: run 'flask avg encrypt-existing' (it is not shown)",
            table,
            name,
        )
    return None


def _sealed(col: Column[Any]) -> Any:
    """The stored values that start like an encrypted value."""
    stored = raw(col)
    return or_(*(stored.startswith(p, autoescape=True) for p in TOKEN_PREFIXES))


def _plain(col: Column[Any]) -> Any:
    """The stored values that are not encrypted (plain text from before the column was)."""
    return raw(col).is_not(None) & ~_sealed(col)


# -- key rotation ------------------------------------------------------------------


def _single_key(col: Column[Any]) -> Column[Any]:
    pks = list(col.table.primary_key.columns)
    if len(pks) != 1:
        raise CryptoError(
            f"{col.table.name}: rotation walks rows by a one-column primary key; "
            f"this table has {len(pks)}"
        )
    return pks[0]


def _not_primary(col: Column[Any], keyring: Keyring) -> Any:
    """Encrypted values not yet in the current format under the primary key."""
    stored = raw(col)
    current = or_(
        stored.startswith(key_prefix(keyring.primary), autoescape=True),
        stored.startswith(key_prefix(keyring.primary, CONSTANT), autoescape=True),
    )
    return stored.is_not(None) & _sealed(col) & ~current


@dataclass
class RotationColumn:
    """One encrypted column to rotate, with the engine that holds it."""

    column: Column[Any]
    engine: Any

    @property
    def name(self) -> str:
        return f"{self.column.table.name}.{self.column.name}"


def rotation_plan(db: Any) -> list[RotationColumn]:
    """Every encrypted column whose table exists, with its engine."""
    plan: list[RotationColumn] = []
    for bind, metadata in host_metadatas(db).items():
        engine = db.engines[bind] if bind is not None else db.engine
        present = set(inspect(engine).get_table_names())
        for col in encrypted_columns([metadata]):
            if col.table.name in present:
                _single_key(col)
                plan.append(RotationColumn(col, engine))
    return plan


def _count(item: RotationColumn, where: Any) -> int:
    with item.engine.connect() as conn:
        stmt = select(func.count()).select_from(item.column.table).where(where)
        return int(conn.execute(stmt).scalar() or 0)


def pending(item: RotationColumn, keyring: Keyring) -> int:
    """How many values of the column are not yet in the current format under the
    primary key (plain text is left to :func:`encrypt_column`)."""
    return _count(item, _not_primary(item.column, keyring))


def _walk(
    item: RotationColumn,
    where: Any,
    reseal: Callable[[Any, str], str],
    batch_size: int,
    on_batch: Any,
    check: Callable[[list[str]], None] | None = None,
) -> int:
    """Rewrite the values matching ``where`` as ``reseal(row text, stored)``, walking
    the primary key upwards, ``batch_size`` rows per committed transaction. The update
    names the old value, so one the site changed meanwhile is left for the next run."""
    col = item.column
    table = col.table
    pk = _single_key(col)
    stored = raw(col)
    done = 0
    last: Any = None
    while True:
        with item.engine.begin() as conn:
            stmt = select(pk, row_sql([pk]), stored).where(where)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = conn.execute(stmt.order_by(pk).limit(batch_size)).all()
            if not rows:
                return done
            params = [
                {"avg_key": key, "avg_old": value, "avg_new": reseal(row, value)}
                for key, row, value in rows
            ]
            if check is not None:
                check([p["avg_new"] for p in params])
            conn.execute(
                update(table)
                .where(pk == bindparam("avg_key"), stored == bindparam("avg_old"))
                .values({col.name: type_coerce(bindparam("avg_new"), Text())}),
                params,
            )
            last = rows[-1][0]
        done += len(rows)
        if on_batch is not None:
            on_batch(len(rows))


def rotate_column(
    item: RotationColumn,
    keyring: Keyring,
    *,
    batch_size: int = 1000,
    on_batch: Any = None,
) -> int:
    """Re-encrypt the column's values under the primary key and bound to their row
    (values of format ``v1`` are upgraded), ``batch_size`` rows per transaction,
    walking the primary key upwards; returns how many were rewritten.

    Each batch commits on its own, so a killed run leaves whole batches done and the
    next run skips them (they already carry the primary key's id and format). A value
    changed by the site between read and write is left for the next run (the update
    names the old ciphertext). Anonymised constants (``c2``) stay constants.
    """
    table, name = item.column.table.name, item.column.name
    ring = replace(keyring, row_bound=False)  # v1 values are what this upgrades

    def reseal(row: str, value: str) -> str:
        plain = ring.open(value, table, name, row)
        if value.startswith(f"{CONSTANT}:"):
            return ring.seal_constant(plain, table, name)
        return ring.seal(plain, table, name, row)

    return _walk(item, _not_primary(item.column, keyring), reseal, batch_size, on_batch)


# -- encrypting a column that held plain text ------------------------------------------


def plaintext_pending(item: RotationColumn) -> int:
    """How many stored values of the column are plain text (not yet encrypted)."""
    return _count(item, _plain(item.column))


def lookalikes(item: RotationColumn) -> int:
    """Stored values that start like an encrypted value but are not one: plain text
    :func:`encrypt_column` refuses to touch (it cannot tell them from a damaged value)."""
    with item.engine.connect() as conn:
        values = conn.execute(select(raw(item.column)).where(_sealed(item.column))).scalars()
        return sum(1 for v in values if not _TOKEN.match(v))


def encrypt_column(
    item: RotationColumn,
    keyring: Keyring,
    *,
    batch_size: int = 1000,
    on_batch: Any = None,
) -> int:
    """Encrypt the plain text stored in an encrypted column (one declared encrypted
    after it held data), bound to each row; returns how many values were sealed.

    Values that start like an encrypted value are never touched, so a second run
    finds nothing (idempotent) and a killed run is finished by running it again
    (batches commit on their own). Refused before writing when the database column is
    too narrow for an encrypted value: widen it to ``TEXT`` first.
    """
    table, name = item.column.table.name, item.column.name
    with item.engine.connect() as conn:
        found = {c["name"]: c for c in inspect(conn).get_columns(table)}
    width = getattr(found.get(name, {}).get("type"), "length", None)

    def check(tokens: list[str]) -> None:
        if width is not None and any(len(t) > width for t in tokens):
            raise CryptoError(
                f"{item.name} is {found[name]['type']} in the database: too narrow for an "
                "encrypted value; widen it to TEXT first (see the encryption docs)"
            )

    def reseal(row: str, value: str) -> str:
        return keyring.seal(value, table, name, row)

    return _walk(item, _plain(item.column), reseal, batch_size, on_batch, check)
