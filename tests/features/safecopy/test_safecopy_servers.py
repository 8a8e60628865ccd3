"""``flask avg anonymised-copy`` from the leg's database (PostgreSQL and MariaDB servers,
and SQLite) into a SQLite file, checked value by value.

No declared personal value of the source appears anywhere in the copy, no encrypted
value of the source either; every foreign key resolves and every unique constraint
holds in the copy; encrypted columns are blanked, or hold their declared anonymised
constant sealed under the copy's throw-away key; flask-avg's audit log, ledger and
other records about people are empty; the example site runs on the copy.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from example_app.models import Member, db
from flask_avg.core import crypto
from flask_avg.core.models import AuditEntry
from flask_avg.features.retention import anonymise
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.safecopy.service import anonymised_copy
from tests.features.safecopy.test_safecopy import _seed
from tests.support.app import make_app
from tests.support.factories import full_member


def _declared_values(state: Any, conn: Any) -> dict[str, set[Any]]:
    """Every personal value of the source that the copy must not hold, per column."""
    found: dict[str, set[Any]] = {}
    for model in state.registry:
        table = model.table
        for name in model.columns:
            if anonymise.target(model, name) is anonymise.KEEP:
                continue  # primary key and retention anchor, kept as erasure keeps them
            col = table.c[name]
            stored = crypto.raw(col) if crypto.is_encrypted(col) else col
            values = conn.execute(sa.select(stored).where(stored.is_not(None))).scalars()
            found[f"{table.name}.{name}"] = {v for v in values if v not in ("", 0, False)}
    return found


def _cells(conn: Any, meta: sa.MetaData) -> set[Any]:
    """Every value stored anywhere in the copy."""
    out: set[Any] = set()
    for table in meta.sorted_tables:
        for row in conn.execute(sa.select(table)):
            out.update(v for v in row if v is not None)
    return out


def _unique_sets(table: sa.Table, inspector: Any) -> list[list[str]]:
    sets = [u["column_names"] for u in inspector.get_unique_constraints(table.name)]
    sets += [ix["column_names"] for ix in inspector.get_indexes(table.name) if ix["unique"]]
    return [s for s in sets if s]


def test_a_server_database_copied_to_a_sqlite_file(app, db_url, tmp_path):
    built = _seed(app)
    built += [full_member(n) for n in range(5, 8)]
    db.session.commit()
    state = app.extensions["avg"]
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    result = anonymised_copy(state, url, strict=True)
    assert result.rows["members"] == len(built)
    assert "members.medical_notes" in result.blanked and result.keys is None

    with db.engine.connect() as src:
        personal = _declared_values(state, src)
        tokens = personal["members.medical_notes"]
        assert len(tokens) == len(built) and all(t.startswith("v2:") for t in tokens)
        source_rows = {
            t.name: src.scalar(sa.select(sa.func.count()).select_from(t))
            for t in db.metadata.sorted_tables
        }
    assert sum(len(v) for v in personal.values()) > 50
    copy = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(bind=copy)
        with copy.connect() as dst:
            cells = _cells(dst, meta)
            texts = [c for c in cells if isinstance(c, str)]
            # value by value: none of the source's declared personal values is anywhere
            for where, values in personal.items():
                for value in values:
                    if isinstance(value, str | date | datetime | Decimal):
                        leaked = value in cells
                        if isinstance(value, str) and len(value) >= 6:
                            leaked = leaked or any(value in text for text in texts)
                        assert not leaked, (where, value)
            assert not any(c.startswith(crypto.TOKEN_PREFIXES) for c in texts)
            notes = dst.scalars(sa.text("SELECT medical_notes FROM members")).all()
            assert notes == [None] * len(built)
            # every host table arrived whole
            for name, count in source_rows.items():
                assert dst.scalar(sa.text(f"SELECT COUNT(*) FROM {name}")) == count, name
            # every foreign key resolves: SQLite's own check, and each one by hand
            assert dst.execute(sa.text("PRAGMA foreign_key_check")).all() == []
            for table in meta.sorted_tables:
                for fk in table.foreign_keys:
                    parent = fk.column.table.alias("parent").c[fk.column.name]
                    orphans = dst.scalar(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(fk.parent.is_not(None), ~sa.exists().where(parent == fk.parent))
                    )
                    assert orphans == 0, f"{table.name}.{fk.parent.name}"
            # every unique constraint and unique index holds
            inspector = sa.inspect(copy)
            checked = 0
            for table in meta.sorted_tables:
                for names in _unique_sets(table, inspector):
                    cols = [table.c[n] for n in names]
                    dupes = dst.execute(
                        sa.select(*cols)
                        .where(*(c.is_not(None) for c in cols))
                        .group_by(*cols)
                        .having(sa.func.count() > 1)
                    ).all()
                    assert dupes == [], (table.name, names)
                    checked += 1
            assert checked >= 3
            # flask-avg's records about people are empty
            for name in result.emptied:
                assert dst.scalar(sa.text(f"SELECT COUNT(*) FROM {name}")) == 0, name
            assert AuditEntry.__table__.name in result.emptied
            assert LedgerEntry.__table__.name in result.emptied
    finally:
        copy.dispose()

    copied = make_app(url)
    with copied.app_context():
        try:
            assert copied.test_client().get("/").status_code == 200
            assert db.session.scalars(sa.select(Member.medical_notes)).all() == [None] * len(built)
        finally:
            db.session.remove()
            db.engine.dispose()


def test_an_anonymised_constant_is_sealed_under_the_copys_own_key(app, db_url, tmp_path):
    """An encrypted column declared ``anonymise="fixed"``: the copy holds the constant
    sealed under a throw-away key, never a value sealed under the production key."""
    built = _seed(app)
    state = app.extensions["avg"]
    model = next(m for m in state.registry if m.table is Member.__table__)
    spec = model.columns["medical_notes"]
    model.columns["medical_notes"] = dataclasses.replace(
        spec, anonymise="fixed", anonymise_value="geen"
    )
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    try:
        # through the command, which prints the copy's key for the developer
        printed = app.test_cli_runner().invoke(args=["avg", "anonymised-copy", "--to", url])
    finally:
        model.columns["medical_notes"] = spec
    assert printed.exit_code == 0, printed.output
    lines = [ln for ln in printed.output.splitlines() if "AVG_ENCRYPTION_KEYS" in ln]
    assert len(lines) == 1
    keys = lines[0].rsplit(": ", 1)[1].strip()
    throwaway = crypto.Keyring.parse(keys)
    assert throwaway.keys.keys() == {"copy"}
    assert not set(throwaway.keys.values()) & set(state.keyring.keys.values())
    copy = sa.create_engine(url)
    try:
        with copy.connect() as dst:
            stored = dst.scalars(sa.text("SELECT medical_notes FROM members")).all()
    finally:
        copy.dispose()
    assert len(stored) == len(built) and all(v.startswith("c2:copy:") for v in stored)
    for value in stored:
        assert throwaway.open(value, "members", "medical_notes", None) == "geen"
    # the copy's app starts with the throw-away key and reads the constant
    copied = make_app(url, AVG_ENCRYPTION_KEYS=keys)
    with copied.app_context():
        try:
            notes = db.session.scalars(sa.select(Member.medical_notes)).all()
            assert notes == ["geen"] * len(built)
        finally:
            db.session.remove()
            db.engine.dispose()
