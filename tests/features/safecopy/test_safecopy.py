"""``flask avg anonymised-copy``: from every leg into a SQLite file, checked value by value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from example_app.models import Team, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.types import utcnow
from flask_avg.features.retention import anonymise
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.safecopy.service import encrypted
from tests.support.app import make_app
from tests.support.factories import full_member, message


def _seed(app):
    built = [full_member(n) for n in range(1, 5)]
    message(built[0], built[1])
    db.session.add(Team(name="Team van Jan, jan@example.nl"))  # undeclared, caught by --strict
    app.extensions["avg"].audit.record("test.seeded", subject=built[0].member.id)
    db.session.execute(
        sa.insert(LedgerEntry),
        [{"model": "Member", "key": "99", "action": "deleted", "reason": "test", "at": utcnow()}],
    )
    db.session.commit()
    return built


def _rows(conn, table):
    pk = list(table.primary_key.columns)
    return {tuple(r[c.name] for c in pk): r for r in conn.execute(sa.select(table)).mappings()}


def test_copy_anonymises_every_declared_value(app, tmp_path):
    _seed(app)
    state = app.extensions["avg"]
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    result = app.test_cli_runner().invoke(args=["avg", "anonymised-copy", "--to", url, "--strict"])
    assert result.exit_code == 0, result.output
    assert "blanked: teams.name" in result.output

    copy = sa.create_engine(url)
    try:
        with db.engine.connect() as src, copy.connect() as dst:
            checked = 0
            for model in state.registry:
                table = model.table
                source_rows, copied_rows = _rows(src, table), _rows(dst, table)
                assert source_rows.keys() == copied_rows.keys(), model.name
                for name in model.columns:
                    if anonymise.target(model, name) is anonymise.KEEP:
                        continue  # primary key and retention anchor, kept as erasure keeps them
                    for key, row in source_rows.items():
                        value = row[name]
                        if isinstance(value, str | date | Decimal) and value not in ("", 0):
                            assert copied_rows[key][name] != value, (model.name, name, value)
                            checked += 1
            assert checked > 50
            # flask-avg's records about people are empty, its configuration is kept
            assert dst.scalar(sa.select(sa.func.count()).select_from(AuditEntry.__table__)) == 0
            assert dst.scalar(sa.select(sa.func.count()).select_from(LedgerEntry.__table__)) == 0
            assert dst.scalar(sa.text("SELECT COUNT(*) FROM avg_group")) > 0
            assert dst.scalar(sa.text("SELECT name FROM teams WHERE name LIKE 'Team van%'")) is None
            # secrets: no password hash survives
            hashes = set(src.scalars(sa.text("SELECT password_hash FROM users")))
            assert not hashes & set(dst.scalars(sa.text("SELECT password_hash FROM users")))
            # every foreign key resolves, every unique column holds distinct values
            meta = sa.MetaData()
            meta.reflect(bind=copy)
            for table in meta.sorted_tables:
                for fk in table.foreign_keys:
                    parent = fk.column.table.alias("parent").c[fk.column.name]
                    orphans = dst.scalar(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(
                            fk.parent.is_not(None),
                            ~sa.exists().where(parent == fk.parent),
                        )
                    )
                    assert orphans == 0, f"{table.name}.{fk.parent.name}"
            for model in state.registry:
                for col in model.table.columns:
                    if col.unique:
                        values = list(dst.scalars(sa.select(col).where(col.is_not(None))))
                        assert len(values) == len(set(values)), col
    finally:
        copy.dispose()

    # the example site runs on the copy
    copied_app = make_app(url)
    with copied_app.app_context():
        client = copied_app.test_client()
        assert client.get("/").status_code == 200
        assert client.get("/login").status_code == 200
        db.engine.dispose()


def test_a_target_with_tables_is_refused(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE mine (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    result = app.test_cli_runner().invoke(args=["avg", "anonymised-copy", "--to", url])
    assert result.exit_code == 1
    assert "already has tables" in result.output


def test_encrypted_flag_is_read_defensively():
    assert encrypted(sa.Column("x", sa.String, info={"encrypted": True}))
    assert not encrypted(sa.Column("x", sa.String))
    assert not encrypted(object())
