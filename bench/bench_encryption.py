"""The cost of encrypted columns: a member's row read and written with two encrypted
fields against the same row in plain text, and ``rotate-keys`` over many values.

* ``write``: one member per transaction, added through an ORM session with a key the
  database makes, the way a sign-up form saves (with encrypted values this includes the
  ``UPDATE`` that seals them to the new row's key); ``read``: one member by primary key
  per transaction with a Core select, the way a profile page loads (the key is selected
  with each encrypted value). Baseline: a table with the same columns as plain ``Text``;
  contender: the medical notes and a national id as :class:`flask_avg.Encrypted`
  (AES-256-GCM, bound to the row).
* ``rotation``: re-encrypting every value of one column under a new key
  (:func:`flask_avg.core.crypto.rotate_column`, batches of 1,000). Baseline: the same
  batched walk rewriting the same values without any cryptography, i.e. the
  database work alone (run once to warm up, then timed).

Ratios are contender/baseline, measured in the same run on the same SQLite file.
``python -m bench encryption`` (2,000 members, 100,000 values to rotate), ``--full``
(20,000 and 1,000,000) or ``--smoke`` (20 and 200: ``make test`` runs it so the
benchmark cannot rot). Every value read back must equal what was written, and every
rotated value must decrypt under the new key to its original, or it raises.
"""

from __future__ import annotations

import base64
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

KEY1 = "b1:" + base64.b64encode(b"\x01" * 32).decode()
KEY2 = "b2:" + base64.b64encode(b"\x02" * 32).decode()


def _tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    from flask_avg import Encrypted

    def member(name: str, secret: Any) -> sa.Table:
        return sa.Table(
            name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("first_name", sa.String(80)),
            sa.Column("last_name", sa.String(120)),
            sa.Column("email", sa.String(200)),
            sa.Column("medical_notes", secret()),
            sa.Column("national_id", secret()),
        )

    plain = member("bench_plain_member", sa.Text)
    encrypted = member("bench_encrypted_member", Encrypted)
    notes = sa.Table(
        "bench_rotation",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notes", Encrypted()),
    )
    return plain, encrypted, notes


def _row(i: int) -> dict[str, Any]:
    return {
        "id": i + 1,
        "first_name": f"Voornaam{i}",
        "last_name": f"Achternaam{i}",
        "email": f"lid{i}@example.org",
        "medical_notes": f"Allergisch voor pinda's; astma-inhaler in de tas ({i})",
        "national_id": f"{100000000 + i:09d}",
    }


class _PlainMember:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _SealedMember(_PlainMember):
    pass


def _mapped(plain: sa.Table, encrypted: sa.Table) -> dict[str, type]:
    from sqlalchemy.orm import registry

    mapper_registry = registry()
    mapper_registry.map_imperatively(_PlainMember, plain)
    mapper_registry.map_imperatively(_SealedMember, encrypted)
    return {plain.name: _PlainMember, encrypted.name: _SealedMember}


def _write(engine: sa.Engine, table: sa.Table, n: int) -> float:
    from sqlalchemy.orm import Session

    cls = _CLASSES[table.name]
    with engine.begin() as conn:
        conn.execute(table.delete())  # the keys start again at 1 (SQLite: max + 1)
    started = time.perf_counter()
    for i in range(n):
        values = _row(i)
        del values["id"]
        with Session(engine) as session, session.begin():
            session.add(cls(**values))
    return time.perf_counter() - started


def _read(engine: sa.Engine, table: sa.Table, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        with engine.connect() as conn:
            row = conn.execute(table.select().where(table.c.id == i + 1)).mappings().one()
        if dict(row) != _row(i):
            raise AssertionError(f"{table.name}: row {i + 1} read back differently")
    return time.perf_counter() - started


_CLASSES: dict[str, type] = {}


def _members(engine: sa.Engine, plain: sa.Table, encrypted: sa.Table, n: int, rounds: int) -> None:
    _CLASSES.update(_mapped(plain, encrypted))
    times: dict[str, list[float]] = {"write": [], "read": []}
    enc_times: dict[str, list[float]] = {"write": [], "read": []}
    for table in (plain, encrypted):  # warm up: connections, compiled statements
        _write(engine, table, min(n, 20))
        _read(engine, table, min(n, 20))
    for _ in range(rounds):
        times["write"].append(_write(engine, plain, n))
        enc_times["write"].append(_write(engine, encrypted, n))
        times["read"].append(_read(engine, plain, n))
        enc_times["read"].append(_read(engine, encrypted, n))
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.type_coerce(encrypted.c.medical_notes, sa.Text()))
        ).scalars()
        if not all(v.startswith("v2:b1:") for v in stored):
            raise AssertionError("an encrypted value is not stored as row-bound ciphertext")
    print(f"   {n} members, two encrypted fields each, median of {rounds} round(s):")
    for op in ("write", "read"):
        base = statistics.median(times[op])
        mine = statistics.median(enc_times[op])
        print(
            f"   {op:5s} plain {1000 * base / n:7.3f} ms/member   "
            f"encrypted {1000 * mine / n:7.3f} ms/member   {mine / base:.2f}x"
        )


def _baseline_rewrite(engine: sa.Engine, table: sa.Table, batch: int) -> int:
    """The rotation's walk and updates without cryptography: each value rewritten as is."""
    stored = sa.type_coerce(table.c.notes, sa.Text())
    done, last = 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                sa.select(table.c.id, stored)
                .where(table.c.id > last)
                .order_by(table.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return done
            conn.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("avg_key"), stored == sa.bindparam("avg_old"))
                .values({"notes": sa.type_coerce(sa.bindparam("avg_new"), sa.Text())}),
                [{"avg_key": k, "avg_old": v, "avg_new": v} for k, v in rows],
            )
            last = rows[-1][0]
        done += len(rows)


def _rotation(app: Any, engine: sa.Engine, table: sa.Table, n: int) -> None:
    from flask_avg.core import crypto

    state = app.extensions["avg"]
    state.keyring = crypto.Keyring.parse(KEY1)
    with engine.begin() as conn:
        for start in range(0, n, 10_000):
            rows = [
                {"id": i + 1, "notes": f"notitie {i}"} for i in range(start, min(n, start + 10_000))
            ]
            conn.execute(table.insert(), rows)
    _baseline_rewrite(engine, table, 1000)  # warm up: the table's pages read once
    started = time.perf_counter()
    if _baseline_rewrite(engine, table, 1000) != n:
        raise AssertionError("the baseline did not rewrite every value")
    base = time.perf_counter() - started

    both = crypto.Keyring.parse(f"{KEY2},{KEY1}")
    item = crypto.RotationColumn(table.c.notes, engine)
    started = time.perf_counter()
    done = crypto.rotate_column(item, both, batch_size=1000)
    mine = time.perf_counter() - started
    if done != n or crypto.pending(item, both) != 0:
        raise AssertionError(f"rotation rewrote {done} of {n} values")
    state.keyring = crypto.Keyring.parse(KEY2)
    with engine.connect() as conn:
        values = conn.execute(sa.select(table.c.id, table.c.notes).order_by(table.c.id)).all()
    if [v for _, v in values] != [f"notitie {i}" for i in range(n)]:
        raise AssertionError("a rotated value does not decrypt to its original")
    print(f"   rotation of {n:,} values, batches of 1,000:")
    print(
        f"   rewrite without crypto {base:7.2f} s   rotate-keys {mine:7.2f} s "
        f"({n / mine:,.0f} values/s)   {mine / base:.2f}x"
    )


def main(flags: list[str]) -> None:
    from example_app import create_app

    if "--smoke" in flags:
        members, values, rounds = 20, 200, 1
    elif "--full" in flags:
        members, values, rounds = 20_000, 1_000_000, 3
    else:
        members, values, rounds = 2_000, 100_000, 3
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "TESTING": True,
                "CLUB_PHOTO_DIR": tmp,
                "AVG_ENCRYPTION_KEYS": KEY1,
            }
        )
        metadata = sa.MetaData()
        plain, encrypted, notes = _tables(metadata)
        with app.app_context():
            engine = app.extensions["sqlalchemy"].engine
            metadata.create_all(engine)
            try:
                _members(engine, plain, encrypted, members, rounds)
                _rotation(app, engine, notes, values)
            finally:
                engine.dispose()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
