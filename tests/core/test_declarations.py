"""Every declaration mistake fails at init_app with a message naming model and column."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg import (
    AVG,
    ConfigurationError,
    ModelPolicy,
    PersonalDataMixin,
    SubjectMixin,
    personal,
)


def _init(db: SQLAlchemy) -> AVG:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="t", SQLALCHEMY_DATABASE_URI="sqlite://")
    db.init_app(app)
    LoginManager(app)
    return AVG(app, db)


def _subject(db: SQLAlchemy, **policy) -> type:
    class Member(db.Model, SubjectMixin):
        __tablename__ = "members"
        __avg__ = ModelPolicy(**policy)
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), info=personal("identity"))
        ended: Mapped[date | None] = mapped_column()
        joined: Mapped[str | None] = mapped_column(String(10))

    return Member


def test_a_correct_declaration_passes_in_both_styles():
    db = SQLAlchemy()
    member = _subject(db, retention="members", anchor="ended", purpose="admin", basis="contract")  # noqa: F841 - the registry holds models weakly

    class Note(db.Model, PersonalDataMixin):  # classic Column style
        __tablename__ = "notes"
        id = db.Column(db.Integer, primary_key=True)
        member_id = db.Column(db.ForeignKey("members.id"))
        text = db.Column(db.Text, info=personal("notes"))

    avg = _init(db)
    assert avg is not None


def test_declared_column_that_does_not_exist():
    db = SQLAlchemy()
    member = _subject(db, columns={"nickname": personal("identity")})  # noqa: F841 - the registry holds models weakly
    with pytest.raises(
        ConfigurationError,
        match=r"Member\.nickname: declared in ModelPolicy but the column does not exist",
    ):
        _init(db)


def test_related_model_without_foreign_key_path():
    db = SQLAlchemy()
    member = _subject(db)  # noqa: F841 - the registry holds models weakly

    class Orphan(db.Model, PersonalDataMixin):
        __tablename__ = "orphans"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(String(50), info=personal("contact"))

    with pytest.raises(
        ConfigurationError,
        match=r"Orphan: no foreign-key path from table 'orphans' to the subject table 'members'",
    ):
        _init(db)


def test_shared_lookup_table_is_not_a_path():
    """Up to a shared parent and back down would make rows belong to everyone."""
    db = SQLAlchemy()

    class Country(db.Model):
        __tablename__ = "countries"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Member(db.Model, SubjectMixin):
        __tablename__ = "members"
        id: Mapped[int] = mapped_column(primary_key=True)
        country_id: Mapped[int] = mapped_column(ForeignKey("countries.id"))

    class Shipment(db.Model, PersonalDataMixin):
        __tablename__ = "shipments"
        id: Mapped[int] = mapped_column(primary_key=True)
        country_id: Mapped[int] = mapped_column(ForeignKey("countries.id"))
        address: Mapped[str] = mapped_column(String(50), info=personal("address"))

    with pytest.raises(ConfigurationError, match="Shipment: no foreign-key path"):
        _init(db)


def test_retention_anchor_must_be_a_date():
    db = SQLAlchemy()
    member = _subject(db, retention="members", anchor="joined")  # noqa: F841 - the registry holds models weakly
    with pytest.raises(
        ConfigurationError,
        match=r"Member\.joined: a retention anchor must be a Date or DateTime column",
    ):
        _init(db)


def test_retention_anchor_must_exist_and_category_be_known():
    db = SQLAlchemy()
    member = _subject(db, retention="forever", anchor="gone")  # noqa: F841 - the registry holds models weakly
    with pytest.raises(ConfigurationError) as err:
        _init(db)
    assert "Member: retention anchor column 'gone' does not exist" in str(err.value)
    assert "Member: unknown retention category 'forever'" in str(err.value)


def test_password_column_marked_exportable():
    db = SQLAlchemy()
    member = _subject(db)  # noqa: F841 - the registry holds models weakly

    class Login(db.Model, PersonalDataMixin):
        __tablename__ = "logins"
        id: Mapped[int] = mapped_column(primary_key=True)
        member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
        password_hash: Mapped[str] = mapped_column(String(200), info=personal("account"))

    with pytest.raises(
        ConfigurationError,
        match=r"Login\.password_hash: looks like a password or token but is marked exportable",
    ):
        _init(db)


def test_secret_can_never_be_exported():
    db = SQLAlchemy()
    member = _subject(db)  # noqa: F841 - the registry holds models weakly

    class Login(db.Model, PersonalDataMixin):
        __tablename__ = "logins"
        id: Mapped[int] = mapped_column(primary_key=True)
        member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
        api_key: Mapped[str] = mapped_column(
            String(200), info=personal("account", secret=True, export=True)
        )

    with pytest.raises(
        ConfigurationError, match=r"Login\.api_key: a secret column can never be exported"
    ):
        _init(db)


def test_unknown_category_basis_and_anonymiser():
    db = SQLAlchemy()

    class Member(db.Model, SubjectMixin):
        __tablename__ = "members"
        id: Mapped[int] = mapped_column(primary_key=True)
        a: Mapped[str] = mapped_column(String(5), info=personal("hobbies"))
        b: Mapped[str] = mapped_column(String(5), info=personal("identity", basis="because"))
        c: Mapped[str] = mapped_column(String(5), info=personal("identity", anonymise="shred"))

    with pytest.raises(ConfigurationError) as err:
        _init(db)
    text = str(err.value)
    assert "Member.a: unknown data category 'hobbies'" in text
    assert "Member.b: unknown legal basis 'because'" in text
    assert "Member.c: unknown anonymiser 'shred'" in text


def test_host_can_add_a_category_before_init():
    db = SQLAlchemy()

    class Member(db.Model, SubjectMixin):
        __tablename__ = "members"
        id: Mapped[int] = mapped_column(primary_key=True)
        skill: Mapped[str] = mapped_column(String(20), info=personal("skills"))

    app = Flask(__name__)
    app.config.update(SECRET_KEY="t", SQLALCHEMY_DATABASE_URI="sqlite://")
    db.init_app(app)
    LoginManager(app)
    avg = AVG(db=db)
    avg.add_category("skills", "Skills")
    avg.init_app(app)
    assert app.extensions["avg"].registry.subject.columns["skill"].category == "skills"


def test_personal_info_without_mixin_is_caught():
    db = SQLAlchemy()
    member = _subject(db)  # noqa: F841 - the registry holds models weakly

    class Forgotten(db.Model):
        __tablename__ = "forgotten"
        id: Mapped[int] = mapped_column(primary_key=True)
        member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
        phone: Mapped[str] = mapped_column(String(20), info=personal("contact"))

    with pytest.raises(
        ConfigurationError,
        match=r"Forgotten\.phone is declared personal but Forgotten lacks PersonalDataMixin",
    ):
        _init(db)


def test_exactly_one_subject():
    db = SQLAlchemy()
    member = _subject(db)  # noqa: F841 - the registry holds models weakly

    class Other(db.Model, SubjectMixin):
        __tablename__ = "others"
        id: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(ConfigurationError, match=r"more than one subject model \(Member, Other\)"):
        _init(db)


def test_via_picks_the_route_and_two_keys_become_an_or():
    db = SQLAlchemy()
    member = _subject(db)  # noqa: F841 - the registry holds models weakly

    class Team(db.Model, PersonalDataMixin):
        __tablename__ = "teams"
        id: Mapped[int] = mapped_column(primary_key=True)
        captain_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
        coach_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
        name: Mapped[str] = mapped_column(String(20), info=personal("activity"))

    class Match(db.Model, PersonalDataMixin):
        __tablename__ = "matches"
        __avg__ = ModelPolicy(via=("teams",))
        id: Mapped[int] = mapped_column(primary_key=True)
        team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
        referee_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
        score: Mapped[str] = mapped_column(String(10), info=personal("activity"))

    app_avg = _init(db)
    assert app_avg is not None
    from flask_avg.core.registry import Catalogue, build_registry

    reg = build_registry(db, Catalogue(dict(app_avg._categories), dict(app_avg._retention)))
    team, match = reg.get("Team"), reg.get("Match")
    assert len(team.path) == 1 and len(team.path[0].pairs) == 2
    assert [h.dst.name for h in match.path] == ["teams", "members"]
