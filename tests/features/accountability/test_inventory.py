"""The inventory finds undeclared free-text columns and undeclared tables linked to a person
(key-only associations included) in a tiny app of its own, on every leg."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy

from flask_avg import AVG, ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from flask_avg.extension import get_state
from flask_avg.features.accountability import inventory


def _tiny_app(url: str) -> tuple[Flask, SQLAlchemy]:
    db = SQLAlchemy()

    class Account(db.Model, UserMixin, PersonalDataMixin):
        """The login model; the person points to it."""

        __tablename__ = "tiny_accounts"
        __avg__ = ModelPolicy(purpose="Logging in", basis="contract")
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(sa.String(100), info=personal("account"))

    class Person(db.Model, SubjectMixin):
        __tablename__ = "tiny_people"
        __avg__ = ModelPolicy(purpose="Membership", basis="contract")
        id = sa.Column(sa.Integer, primary_key=True)
        account_id = sa.Column(sa.ForeignKey("tiny_accounts.id"), unique=True)
        name = sa.Column(sa.String(100), info=personal("identity"))
        shirt_size = sa.Column(
            sa.String(5), info=inventory.not_personal("a size, not a fact about the person")
        )

    class Country(db.Model):
        __tablename__ = "tiny_countries"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(100))

    class Booking(db.Model, PersonalDataMixin):
        __tablename__ = "tiny_bookings"
        __avg__ = ModelPolicy(purpose="Court bookings", basis="contract")
        id = sa.Column(sa.Integer, primary_key=True)
        person_id = sa.Column(sa.ForeignKey("tiny_people.id"), nullable=False)
        country_id = sa.Column(sa.ForeignKey("tiny_countries.id"))
        court = sa.Column(sa.Integer, info=personal("activity"))
        notes = sa.Column(sa.Text)  # the hidden personal data: never declared

    class Locker(db.Model):
        """No declaration at all, but each locker belongs to one person."""

        __tablename__ = "tiny_lockers"
        id = sa.Column(sa.Integer, primary_key=True)
        person_id = sa.Column(sa.ForeignKey("tiny_people.id"))
        label = sa.Column(sa.String(40))

    # key-only association tables nobody declared: who follows whom (a self-reference
    # of the subject) and which roles a login account holds
    sa.Table(
        "tiny_followers",
        db.metadata,
        sa.Column("follower_id", sa.ForeignKey("tiny_people.id"), primary_key=True),
        sa.Column("followed_id", sa.ForeignKey("tiny_people.id"), primary_key=True),
    )
    sa.Table("tiny_roles", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "tiny_account_roles",
        db.metadata,
        sa.Column("account_id", sa.ForeignKey("tiny_accounts.id"), primary_key=True),
        sa.Column("role_id", sa.ForeignKey("tiny_roles.id"), primary_key=True),
    )
    # linked, but reviewed as a whole
    sa.Table(
        "tiny_badges",
        db.metadata,
        sa.Column("person_id", sa.ForeignKey("tiny_people.id"), primary_key=True),
        info=inventory.not_personal("a count of visits, kept for the club's statistics"),
    )

    app = Flask("tiny")
    app.config.update(
        SECRET_KEY="t", SQLALCHEMY_DATABASE_URI=url, AVG_BLUEPRINTS=("core", "accountability")
    )
    db.init_app(app)
    LoginManager(app)
    AVG(app, db, user_model=Account)
    return app, db


@pytest.fixture
def tiny(db_url: str) -> Iterator[Flask]:
    app, db = _tiny_app(db_url)
    with app.app_context():
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
        db.engine.dispose()


def test_undeclared_notes_column_is_flagged(tiny):
    inv = inventory.build(get_state())
    flagged = {(table, col.name) for table, col in inv.flagged}
    assert flagged == {("tiny_bookings", "notes"), ("tiny_lockers", "label")}
    by_name = {t.name: t for t in inv.tables}
    assert not by_name["tiny_countries"].linked  # a lookup table is nobody's data
    assert by_name["tiny_lockers"].path == ["tiny_lockers", "tiny_people"]
    statuses = {c.name: c.status for c in by_name["tiny_people"].columns}
    assert statuses == {
        "id": "key",
        "account_id": "key",
        "name": "personal",
        "shirt_size": "reviewed",
    }
    bookings = {c.name: c.status for c in by_name["tiny_bookings"].columns}
    assert bookings["person_id"] == "key" and bookings["court"] == "personal"


def test_undeclared_tables_linked_to_a_person_are_flagged_even_with_keys_only(tiny):
    inv = inventory.build(get_state())
    flagged = {t.name: t.path for t in inv.flagged_tables}
    assert flagged == {
        "tiny_followers": ["tiny_followers", "tiny_people"],
        "tiny_account_roles": ["tiny_account_roles", "tiny_accounts"],  # the login model
        "tiny_lockers": ["tiny_lockers", "tiny_people"],
    }
    by_name = {t.name: t for t in inv.tables}
    assert by_name["tiny_badges"].linked and not by_name["tiny_badges"].undeclared_link
    assert not by_name["tiny_roles"].linked  # a lookup table is nobody's data
    assert not inv.clean
    # --ignore settles a whole table too
    inv = inventory.build(
        get_state(),
        ignore=["tiny_followers", "tiny_account_roles", "tiny_lockers", "tiny_lockers.label"],
    )
    assert [(t, c.name) for t, c in inv.flagged] == [("tiny_bookings", "notes")]
    assert not inv.flagged_tables


def test_flask_avgs_own_tables_are_summarised_not_listed(tiny):
    AvgBase.metadata.create_all(get_state().db.engine)
    inv = inventory.build(get_state())
    own = set(AvgBase.metadata.tables)
    # (avg_alembic_version too, where flask-avg's migrations ran)
    assert "avg_audit_log" in own and own <= set(inv.own)
    assert all(inventory.is_own(name) for name in inv.own)
    assert not {t.name for t in inv.tables} & own
    lines = inventory.render_text(inv)
    assert f"flask-avg's own records: {len(set(inv.own))} tables" in lines[-1]
    assert not any(line.startswith("avg_") or "[" in line and "avg_" in line for line in lines)


def test_tables_only_in_the_database_are_listed_too(tiny):
    db = get_state().db
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE tiny_legacy (id INTEGER PRIMARY KEY, "
                "person_id INTEGER REFERENCES tiny_people(id), remark VARCHAR(200))"
            )
        )
    try:
        inv = inventory.build(get_state())
        legacy = next(t for t in inv.tables if t.name == "tiny_legacy")
        assert legacy.in_database and not legacy.in_code
        assert [c.name for c in legacy.flagged] == ["remark"]
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE tiny_legacy"))


def test_strict_cli_fails_while_anything_is_flagged(tiny):
    runner = tiny.test_cli_runner()
    result = runner.invoke(args=["avg", "inventory"])
    assert result.exit_code == 0
    assert "notes" in result.output and "flagged" in result.output
    result = runner.invoke(args=["avg", "inventory", "--strict"])
    assert result.exit_code == 1
    ignored = ["tiny_bookings.notes", "tiny_lockers.label", "tiny_lockers"]
    args = ["avg", "inventory", "--strict"]
    for name in ignored:
        args += ["--ignore", name]
    # the key-only associations alone still fail, named with how to declare them
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "tiny_followers: links to a member (tiny_followers -> tiny_people)" in result.output
    assert "tiny_account_roles: links to a member" in result.output
    assert 'info={"avg": ModelPolicy(...)}' in result.output
    assert "0 column(s) and 2 table(s) flagged" in result.output
    result = runner.invoke(
        args=[*args, "--ignore", "tiny_followers", "--ignore", "tiny_account_roles"]
    )
    assert result.exit_code == 0, result.output
    assert "0 column(s) and 0 table(s) flagged" in result.output


def test_board_page_lists_the_example_club(app, client):
    from example_app.demo import seed
    from tests.support.app import login

    seed(n_members=3)
    login(client, "bestuur@example.org")
    page = client.get("/avg/inventory").get_data(as_text=True)
    assert 'data-table="members"' in page and 'data-table="teams"' in page
    assert 'data-column="medical_notes" data-status="personal"' in page
    # flask-avg's own tables: one summary, no column listing
    assert 'data-table="avg_audit_log"' not in page and "data-own-tables=" in page
    assert "Eigen administratie van flask-avg" in page
    assert "data-flagged-table=" not in page  # the club declared everything it links


def test_board_page_names_an_undeclared_key_only_table(app, client):
    from example_app.demo import seed
    from tests.support.app import login

    seed(n_members=3)
    db = get_state().db
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE club_followers (follower_id INTEGER REFERENCES members(id), "
                "followed_id INTEGER REFERENCES members(id))"
            )
        )
    try:
        login(client, "bestuur@example.org")
        page = client.get("/avg/inventory").get_data(as_text=True)
        assert 'data-flagged-table="club_followers"' in page
        assert "club_followers → members" in page
        assert "gekoppeld aan een persoon" in page
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE club_followers"))


def test_members_cannot_open_the_inventory(app, client):
    from example_app.demo import seed
    from tests.support.app import login

    seed(n_members=3)
    login(client, "lid@example.org")
    assert client.get("/avg/inventory").status_code == 403
