"""A small club of its own whose tables point to themselves and to login accounts.

The example club has no self-references, and nothing but the member points to a
login account; these models do, for the retention tests:

* ``Person.introduced_by_id``, ``Message.reply_to_id`` and
  ``Account.invited_by_id``: nullable self-references;
* ``Post.parent_id``: a NOT NULL self-reference (a thread's first post points
  to itself);
* ``board_notes.written_by``: the board's own records, not declared, pointing
  to the login account of whoever wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg import AVG, ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from tests.support.app import app_settings

db = SQLAlchemy()


class Account(db.Model, UserMixin, PersonalDataMixin):
    __tablename__ = "lc_accounts"
    __avg__ = ModelPolicy(purpose="Logging in", basis="contract")

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True, info=personal("account"))
    password_hash: Mapped[str] = mapped_column(String(200), info=personal("account", secret=True))
    last_login: Mapped[datetime | None] = mapped_column(info=personal("account"))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("lc_accounts.id"))


class Person(db.Model, SubjectMixin):
    __tablename__ = "lc_people"
    __avg__ = ModelPolicy(
        retention="members",
        anchor="left_on",
        purpose="Membership",
        basis="contract",
        erase="delete",
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("lc_accounts.id"), unique=True)
    name: Mapped[str] = mapped_column(String(80), info=personal("identity"))
    left_on: Mapped[date | None] = mapped_column()
    introduced_by_id: Mapped[int | None] = mapped_column(ForeignKey("lc_people.id"))


class Message(db.Model, PersonalDataMixin):
    __tablename__ = "lc_messages"
    __avg__ = ModelPolicy(
        retention="members", anchor="sent_on", purpose="Messages", basis="contract"
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("lc_people.id"))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("lc_people.id"))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("lc_messages.id"))
    sent_on: Mapped[date] = mapped_column()
    body: Mapped[str] = mapped_column(String(200), info=personal("communication"))


class Post(db.Model, PersonalDataMixin):
    __tablename__ = "lc_posts"
    __avg__ = ModelPolicy(
        retention="members", anchor="posted_on", purpose="Forum", basis="contract"
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("lc_people.id"))
    parent_id: Mapped[int] = mapped_column(ForeignKey("lc_posts.id"))
    posted_on: Mapped[date] = mapped_column()
    body: Mapped[str] = mapped_column(String(200), info=personal("communication"))


board_notes = db.Table(
    "lc_board_notes",
    db.Column("id", db.Integer, primary_key=True),
    db.Column("written_by", db.ForeignKey("lc_accounts.id"), nullable=False),
    db.Column("text", db.String(200), nullable=False),
)


def make_app(url: str, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(app_settings(url, **config))
    db.init_app(app)
    LoginManager(app).user_loader(lambda uid: db.session.get(Account, int(uid)))
    AVG(app, db, user_model=Account)
    return app


def _drop() -> None:
    db.session.remove()
    db.drop_all()
    AvgBase.metadata.drop_all(db.engine)


@contextmanager
def running(url: str) -> Iterator[Flask]:
    """The club's app with empty tables, inside an app context."""
    app = make_app(url)
    with app.app_context():
        _drop()
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        try:
            yield app
        finally:
            _drop()
            db.engine.dispose()


def person(name: str, *, introduced_by: Person | None = None, login: bool = False) -> Person:
    account = None
    if login:
        account = Account(email=f"{name}@example.org", password_hash="x")
        db.session.add(account)
        db.session.flush()
    row = Person(
        name=name,
        account_id=account.id if account else None,
        introduced_by_id=introduced_by.id if introduced_by else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def message(
    sender: Person, recipient: Person, *, reply_to: Message | None = None, on: date | None = None
) -> Message:
    row = Message(
        sender_id=sender.id,
        recipient_id=recipient.id,
        reply_to_id=reply_to.id if reply_to else None,
        sent_on=on or date(2024, 5, 1),
        body="hallo",
    )
    db.session.add(row)
    db.session.flush()
    return row


def post(key: int, author: Person, parent: int | None = None, on: date | None = None) -> int:
    """A post with a fixed key; without ``parent`` it starts a thread (points to itself)."""
    db.session.add(
        Post(
            id=key,
            author_id=author.id,
            parent_id=parent or key,
            posted_on=on or date(2024, 5, 1),
            body=f"post {key}",
        )
    )
    db.session.flush()
    return key
