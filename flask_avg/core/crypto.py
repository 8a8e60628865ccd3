"""Encrypted columns: AES-256-GCM per value, a keyring, and the checks made at ``init_app``.

A host stores a column encrypted by giving it the type :class:`Encrypted`
(``mapped_column(Encrypted(), info=personal("health", encrypted=True))``). Each value
is written as ``v1:<key id>:<base64(nonce, ciphertext, tag)>``: the format version,
the id of the key that sealed it, and a fresh 96-bit nonce. The table and column
names are bound as associated data, so a value copied into another column does
not decrypt. Keys come from ``AVG_ENCRYPTION_KEYS`` (or the environment variable
of that name) as ``"k2:<base64>,k1:<base64>"``: the first key writes, every key
reads. ``flask avg rotate-keys`` re-encrypts everything under the first.

Nothing here ever falls back to plaintext: a value that does not decrypt raises
:class:`DecryptionError`, and a missing or wrong key stops the app at start-up.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app, has_app_context
from sqlalchemy import Column, Table, Text, UniqueConstraint, inspect, select, type_coerce
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import Null
from sqlalchemy.types import TypeDecorator

from flask_avg.core.config import ConfigurationError

log = logging.getLogger(__name__)

FORMAT = "v1"
ENV = "AVG_ENCRYPTION_KEYS"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
NONCE_BYTES = 12
_TOKEN = re.compile(r"^(v[0-9]+):([A-Za-z0-9_-]{1,16}):([A-Za-z0-9+/=]+)$")


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
    """The keys by id; ``primary`` writes, every key reads."""

    primary: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> Keyring:
        """``"k2:<base64>,k1:<base64>"`` (or a list of ``"id:base64"``); the first is primary."""
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for raw in items:
            item = raw.strip()
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

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.primary]).encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{FORMAT}:{self.primary}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, aad: bytes) -> str:
        version, kid, body = split_token(token)
        if version != FORMAT:
            raise DecryptionError(f"unknown encrypted-value format {version!r}")
        key = self.keys.get(kid)
        if key is None:
            raise DecryptionError(
                f"the value is encrypted with key {kid!r}, which {ENV} does not hold"
            )
        try:
            raw = base64.b64decode(body, validate=True)
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(
                f"the value does not decrypt with key {kid!r}: a wrong key, or a value "
                "altered or moved from another column"
            ) from None
        return plain.decode("utf-8")


def split_token(token: str) -> tuple[str, str, str]:
    """``(version, key id, body)`` of a stored value; anything else is refused."""
    found = _TOKEN.match(token) if isinstance(token, str) else None
    if found is None:
        raise DecryptionError("the stored value is not an encrypted value (plaintext?)")
    return found.group(1), found.group(2), found.group(3)


def key_prefix(kid: str) -> str:
    """What every value sealed with key ``kid`` starts with."""
    return f"{FORMAT}:{kid}:"


def associated_data(table: str, column: str) -> bytes:
    return f"flask-avg|{table}|{column}".encode()


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
    """Text stored encrypted (AES-256-GCM) under the app's keyring.

    One instance per column: it learns its table and column when attached and
    binds them into every value. ``length`` is the longest plaintext the host
    allows; it is checked before encrypting (the stored text is longer).
    """

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__()
        self.length = length
        self._where: tuple[str, str] | None = None
        self._column: Column[Any] | None = None

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

    def copy(self, **kw: Any) -> Encrypted:
        # a copy for a dialect keeps its column; a column's copy attaches anew
        twin = Encrypted(self.length)
        twin._where = self._where
        return twin

    @property
    def where(self) -> tuple[str, str]:
        if self._where is None:
            raise CryptoError("an Encrypted() type is used outside a table column")
        return self._where

    @property
    def aad(self) -> bytes:
        return associated_data(*self.where)

    # -- values -----------------------------------------------------------------
    @property
    def python_type(self) -> type:
        return str

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise CryptoError(f"{'.'.join(self.where)} stores text, not {type(value).__name__}")
        if self.length is not None and len(value) > self.length:
            raise ValueError(f"{'.'.join(self.where)} holds at most {self.length} characters")
        return current_keyring().encrypt(value, self.aad)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_keyring().decrypt(value, self.aad)

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
    """Decrypt the first stored value of every encrypted column (and one per key id it
    can name cheaply): a wrong or missing key is found before the first page is served."""
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
                    value = conn.execute(select(raw(col)).where(col.is_not(None)).limit(1)).scalar()
                    if value is None:
                        continue
                    try:
                        keyring.decrypt(value, associated_data(col.table.name, col.name))
                    except DecryptionError as err:
                        conn.close()
                        engine.dispose()  # the app will not start: leave no connection
                        raise ConfigurationError(
                            f"{col.table.name}.{col.name}: {err}. Check {ENV}; flask-avg "
                            "does not start with keys that cannot read the stored values"
                        ) from None
        except sa_exc.OperationalError as err:
            log.warning("flask-avg could not check the encryption keys: %s", err)


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
    stored = raw(col)
    return stored.is_not(None) & ~stored.startswith(key_prefix(keyring.primary), autoescape=True)


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


def pending(item: RotationColumn, keyring: Keyring) -> int:
    """How many values of the column are not yet under the primary key."""
    from sqlalchemy import func

    with item.engine.connect() as conn:
        stmt = select(func.count()).select_from(item.column.table)
        return int(conn.execute(stmt.where(_not_primary(item.column, keyring))).scalar() or 0)


def rotate_column(
    item: RotationColumn,
    keyring: Keyring,
    *,
    batch_size: int = 1000,
    on_batch: Any = None,
) -> int:
    """Re-encrypt the column's values under the primary key, ``batch_size`` rows per
    transaction, walking the primary key upwards; returns how many were rewritten.

    Each batch commits on its own, so a killed run leaves whole batches done and the
    next run skips them (they already carry the primary key's id). A value changed
    by the site between read and write is left for the next run (the update names
    the old ciphertext).
    """
    from sqlalchemy import bindparam, update

    col = item.column
    table = col.table
    pk = _single_key(col)
    aad = associated_data(table.name, col.name)
    stored = raw(col)
    done = 0
    last: Any = None
    while True:
        with item.engine.begin() as conn:
            stmt = select(pk, stored).where(_not_primary(col, keyring))
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = conn.execute(stmt.order_by(pk).limit(batch_size)).all()
            if not rows:
                return done
            params = [
                {
                    "avg_key": key,
                    "avg_old": value,
                    "avg_new": keyring.encrypt(keyring.decrypt(value, aad), aad),
                }
                for key, value in rows
            ]
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
