"""The inventory finds an undeclared free-text column in a tiny app of its own, on every leg."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy

from flask_avg import AVG, ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from flask_avg.extension import get_state
from flask_avg.features.accountability import inventory


def _tiny_app(url: str) -> tuple[Flask, SQLAlchemy]:
    db = SQLAlchemy()

    class Person(db.Model, SubjectMixin):
        __tablename__ = "tiny_people"
        __avg__ = ModelPolicy(purpose="Membership", basis="contract")
        id = sa.Column(sa.Integer, primary_key=True)
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

    app = Flask("tiny")
    app.config.update(
        SECRET_KEY="t", SQLALCHEMY_DATABASE_URI=url, AVG_BLUEPRINTS=("core", "accountability")
    )
    db.init_app(app)
    LoginManager(app)
    AVG(app, db)
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
        db.engine.dispose()


def test_undeclared_notes_column_is_flagged(tiny):
    inv = inventory.build(get_state())
    flagged = {(table, col.name) for table, col in inv.flagged}
    assert flagged == {("tiny_bookings", "notes"), ("tiny_lockers", "label")}
    by_name = {t.name: t for t in inv.tables}
    assert not by_name["tiny_countries"].linked  # a lookup table is nobody's data
    assert by_name["tiny_lockers"].path == ["tiny_lockers", "tiny_people"]
    statuses = {c.name: c.status for c in by_name["tiny_people"].columns}
    assert statuses == {"id": "key", "name": "personal", "shirt_size": "reviewed"}
    bookings = {c.name: c.status for c in by_name["tiny_bookings"].columns}
    assert bookings["person_id"] == "key" and bookings["court"] == "personal"


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
    result = runner.invoke(
        args=[
            "avg",
            "inventory",
            "--strict",
            "--ignore",
            "tiny_bookings.notes",
            "--ignore",
            "tiny_lockers.label",
        ]
    )
    assert result.exit_code == 0, result.output


def test_board_page_lists_the_example_club(app, client):
    from example_app.demo import seed
    from tests.support.app import login

    seed(n_members=3)
    login(client, "bestuur@example.org")
    page = client.get("/avg/inventory").get_data(as_text=True)
    assert 'data-table="members"' in page and 'data-table="teams"' in page
    assert 'data-column="medical_notes" data-status="personal"' in page


def test_members_cannot_open_the_inventory(app, client):
    from example_app.demo import seed
    from tests.support.app import login

    seed(n_members=3)
    login(client, "lid@example.org")
    assert client.get("/avg/inventory").status_code == 403
