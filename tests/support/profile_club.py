"""Hosts with a one-to-one profile model, for the self-service tests; built fresh per test.

Three ways a host links a profile (an address and a health note kept apart from
the member row), chosen with ``declare(kind)``:

* ``"member"``: ``Profile.member_id`` is a unique foreign key to the subject
  (``Member``, linked to its ``Account`` by ``Member.account_id``);
* ``"login"``: the subject is a separate ``Member`` with a unique ``account_id``,
  and ``Profile.account_id`` is a unique foreign key to the login ``Account``;
* ``"user"``: the login ``Account`` is the subject, ``Profile.account_id`` points to it.

Every host also has ``Note``, a one-to-many model (a member has many notes).
``note_editable=True`` declares one of its columns member-editable, which
``init_app`` must refuse. ``required_extra=True`` gives the profile a NOT NULL
column members cannot fill, so a missing profile cannot be created from the form.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_login import LoginManager, UserMixin, login_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg import AVG, ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from flask_avg.features.acl.service import ensure_default_groups
from tests.support.app import app_settings

KINDS = ("member", "login", "user")


@dataclass
class Host:
    kind: str
    db: SQLAlchemy
    Account: Any
    Member: Any  # the subject model (``Account`` itself for kind "user")
    Profile: Any
    Note: Any
    #: the running app (set by :func:`running`)
    app: Any = None

    def add(self, row: Any) -> Any:
        self.db.session.add(row)
        self.db.session.flush()
        return row

    def person(self, name: str, *, profile: bool = True) -> Any:
        """A member with a login account (and a profile); returns the subject row, committed."""
        account = self.add(self.Account(email=f"{name}@example.org"))
        subject = account
        if self.kind != "user":
            subject = self.add(self.Member(name=name, account_id=account.id))
        if profile:
            self.add(
                self.Profile(
                    **{self.profile_link: self.link_value(subject)},
                    street=f"{name}straat 1",
                    city=f"{name}stad",
                    health_note=f"{name} is allergic",
                    shirt_size="M",
                )
            )
        self.add(self.Note(**{self.note_link: subject.id}, text=f"note on {name}"))
        self.db.session.commit()
        return subject

    @property
    def profile_link(self) -> str:
        return "member_id" if self.kind == "member" else "account_id"

    @property
    def note_link(self) -> str:
        return "account_id" if self.kind == "user" else "member_id"

    def link_value(self, subject: Any) -> Any:
        return subject.account_id if self.kind == "login" else subject.id

    def account_of(self, subject: Any) -> Any:
        return (
            subject
            if self.kind == "user"
            else self.db.session.get(self.Account, subject.account_id)
        )

    def profile_of(self, subject: Any) -> Any:
        self.db.session.expire_all()
        link = getattr(self.Profile, self.profile_link)
        return self.db.session.scalars(
            self.db.select(self.Profile).where(link == self.link_value(subject))
        ).first()


def declare(
    kind: str,
    *,
    note_editable: bool = False,
    required_extra: bool = False,
    unique_login: bool = True,
) -> Host:
    """Fresh models of one host kind on a fresh ``SQLAlchemy()``; ``unique_login=False``
    drops the unique constraint on ``Member.account_id``."""
    assert kind in KINDS
    db = SQLAlchemy()
    account_is_subject = kind == "user"
    account_bases: tuple[type, ...] = (db.Model, UserMixin)
    account_bases += (SubjectMixin,) if account_is_subject else (PersonalDataMixin,)

    account_ns: dict[str, Any] = {
        "__tablename__": "pc_accounts",
        "__avg__": ModelPolicy(
            retention="members" if account_is_subject else None,
            anchor="left_on" if account_is_subject else None,
            purpose="Logging in",
            basis="contract",
        ),
        "__annotations__": {
            "id": Mapped[int],
            "email": Mapped[str],
            "left_on": Mapped[date | None],
        },
        "id": mapped_column(primary_key=True),
        "email": mapped_column(String(200), unique=True, info=personal("account")),
        "left_on": mapped_column(),
    }
    Account = type("Account", account_bases, account_ns)
    Member: Any = Account

    if not account_is_subject:

        class Member(db.Model, SubjectMixin):  # type: ignore[name-defined,no-redef]
            __tablename__ = "pc_members"
            __avg__ = ModelPolicy(
                retention="members", anchor="left_on", purpose="Membership", basis="contract"
            )
            id: Mapped[int] = mapped_column(primary_key=True)
            account_id: Mapped[int | None] = mapped_column(
                ForeignKey("pc_accounts.id"), unique=unique_login
            )
            name: Mapped[str] = mapped_column(String(80), info=personal("identity", editable=True))
            left_on: Mapped[date | None] = mapped_column()

    subject_table = "pc_accounts" if kind in ("login", "user") else "pc_members"
    profile_link = "member_id" if kind == "member" else "account_id"
    profile_ns: dict[str, Any] = {
        "__tablename__": "pc_profiles",
        "__avg__": ModelPolicy(purpose="Membership", basis="contract", label="Profile"),
        "__annotations__": {
            "id": Mapped[int],
            profile_link: Mapped[int],
            "street": Mapped[str | None],
            "city": Mapped[str],
            "health_note": Mapped[str | None],
            "shirt_size": Mapped[str | None],
        },
        "id": mapped_column(primary_key=True),
        profile_link: mapped_column(ForeignKey(f"{subject_table}.id"), unique=True),
        "street": mapped_column(String(100), info=personal("address", editable=True)),
        "city": mapped_column(String(100), info=personal("address", editable=True)),
        "health_note": mapped_column(String(200), info=personal("health")),
        "shirt_size": mapped_column(String(5), info=personal("membership")),
    }
    if required_extra:
        profile_ns["__annotations__"]["member_since"] = Mapped[date]
        profile_ns["member_since"] = mapped_column(info=personal("membership"))
    Profile = type("Profile", (db.Model, PersonalDataMixin), profile_ns)

    note_target = "pc_accounts" if account_is_subject else "pc_members"
    note_link = "account_id" if account_is_subject else "member_id"
    Note = type(
        "Note",
        (db.Model, PersonalDataMixin),
        {
            "__tablename__": "pc_notes",
            "__avg__": ModelPolicy(purpose="Membership", basis="contract"),
            "__annotations__": {"id": Mapped[int], note_link: Mapped[int], "text": Mapped[str]},
            "id": mapped_column(primary_key=True),
            note_link: mapped_column(ForeignKey(f"{note_target}.id"), index=True),
            "text": mapped_column(String(200), info=personal("notes", editable=note_editable)),
        },
    )
    return Host(kind, db, Account, Member, Profile, Note)


class HostClient(FlaskClient):
    """Each request in an app context of its own, as in production (see
    :class:`tests.support.app.RequestClient`)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        db = self.application.extensions["sqlalchemy"]
        db.session.rollback()
        with self.application.app_context():
            return super().open(*args, **kwargs)


def make_app(host: Host, url: str = "sqlite://") -> Flask:
    app = Flask(__name__)
    app.config.update(app_settings(url))
    host.db.init_app(app)
    LoginManager(app).user_loader(lambda uid: host.db.session.get(host.Account, int(uid)))

    @app.route("/test-login/<int:account_id>")
    def test_login(account_id: int) -> str:
        login_user(host.db.session.get(host.Account, account_id))
        return "ok"

    AVG(app, host.db, user_model=host.Account)
    app.test_client_class = HostClient
    return app


def _drop(db: SQLAlchemy) -> None:
    db.session.remove()
    db.drop_all()
    AvgBase.metadata.drop_all(db.engine)


@contextmanager
def running(host: Host, url: str) -> Iterator[Flask]:
    """The host's app with empty tables and the default groups, inside an app context."""
    app = make_app(host, url)
    host.app = app
    db = host.db
    with app.app_context():
        _drop(db)
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        ensure_default_groups(db.session)
        db.session.commit()
        try:
            yield app
        finally:
            _drop(db)
            db.engine.dispose()


def logged_in(app: Flask, host: Host, subject: Any) -> FlaskClient:
    client = app.test_client()
    assert client.get(f"/test-login/{host.account_of(subject).id}").status_code == 200
    return client
