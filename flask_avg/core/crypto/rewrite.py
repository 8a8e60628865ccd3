"""Set-based rewrites of encrypted columns: key rotation and encrypting existing plain text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Column,
    Text,
    bindparam,
    func,
    inspect,
    or_,
    select,
    type_coerce,
    update,
)

from flask_avg.core.crypto.column import (
    encrypted_columns,
    raw,
    row_sql,
    stored_plain,
    stored_sealed,
)
from flask_avg.core.crypto.keyring import CONSTANT, TOKEN, CryptoError, Keyring, key_prefix
from flask_avg.core.crypto.orm import host_metadatas

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
    return stored.is_not(None) & stored_sealed(col) & ~current


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
    return _count(item, stored_plain(item.column))


def lookalikes(item: RotationColumn) -> int:
    """Stored values that start like an encrypted value but are not one: plain text
    :func:`encrypt_column` refuses to touch (it cannot tell them from a damaged value)."""
    with item.engine.connect() as conn:
        values = conn.execute(select(raw(item.column)).where(stored_sealed(item.column))).scalars()
        return sum(1 for v in values if not TOKEN.match(v))


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

    return _walk(item, stored_plain(item.column), reseal, batch_size, on_batch, check)
