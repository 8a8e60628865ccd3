"""``flask avg anonymised-copy``: from every leg into a SQLite file, checked value by value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from example_app.models import Member, Team, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.types import utcnow
from flask_avg.features.retention import anonymise
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.safecopy.service import anonymised_copy, encrypted
from tests.support.app import RUN_DB, admin_engine, make_app, reset_schema
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


def test_a_column_declared_encrypted_is_blanked(app, tmp_path):
    _seed(app)
    column = Member.__table__.c.first_name
    column.info["encrypted"] = True  # as the crypto feature declares it
    try:
        result = anonymised_copy(app.extensions["avg"], f"sqlite:///{tmp_path / 'copy.db'}")
    finally:
        del column.info["encrypted"]
    assert "members.first_name" in result.blanked
    copy = sa.create_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    with copy.connect() as conn:
        assert set(conn.scalars(sa.text("SELECT first_name FROM members"))) == {""}
    copy.dispose()


def _admin(leg, *statements):
    engine = admin_engine(leg)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_copy_into_another_server(db_url, tmp_path):
    """From SQLite into an empty database on the leg's server (a SQLite file on that leg)."""
    source = make_app(f"sqlite:///{tmp_path / 'source.db'}")
    backend = sa.make_url(db_url).get_backend_name()
    leg = "mariadb" if backend == "mysql" else backend
    name = f"{RUN_DB}_copy"
    if leg == "sqlite":
        target = f"sqlite:///{tmp_path / 'target.db'}"
    else:
        _admin(leg, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        target = sa.make_url(db_url).set(database=name).render_as_string(hide_password=False)
    try:
        with source.app_context(), source.test_request_context():
            reset_schema(source)
            built = _seed(source)
            ids = [b.member.id for b in built]
            source_emails = {b.member.email for b in built}
            result = anonymised_copy(source.extensions["avg"], target)
            assert result.rows["members"] == len(built)
            db.session.remove()
            db.engine.dispose()
        copied = make_app(target)
        with copied.app_context():
            assert copied.test_client().get("/").status_code == 200
            # new rows get keys after the copied ones (PostgreSQL's sequences are moved on)
            member = Member(
                member_number="N1",
                first_name="Nieuw",
                last_name="Lid",
                email="nieuw@example.org",
                start_date=date(2026, 1, 1),
            )
            db.session.add(member)
            db.session.commit()
            assert member.id > max(ids)
            emails = set(db.session.scalars(sa.select(Member.email)))
            assert not emails & source_emails
            db.session.remove()
            db.engine.dispose()
    finally:
        if leg != "sqlite":
            _admin(leg, f"DROP DATABASE IF EXISTS {name}")


def test_a_table_that_differs_from_its_model_is_still_anonymised(app, tmp_path):
    """A column added to members by hand: the copy reads the database's table, and the
    declared columns are still replaced."""
    built = _seed(app)
    with db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE members ADD COLUMN hobby VARCHAR(50)"))
        conn.execute(sa.text("UPDATE members SET hobby = 'schaken'"))
    try:
        result = anonymised_copy(app.extensions["avg"], f"sqlite:///{tmp_path / 'copy.db'}")
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE members DROP COLUMN hobby"))
    assert "members.email" in result.anonymised
    copy = sa.create_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    with copy.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, email, first_name, hobby FROM members")).all()
    copy.dispose()
    assert len(rows) == len(built)
    for member_id, email, first_name, hobby in rows:
        assert (email, first_name, hobby) == (f"anon-{member_id}@anon.invalid", "anon", "schaken")
