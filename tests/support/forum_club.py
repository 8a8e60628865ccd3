"""A tiny forum club for the path and shared-row tests, its declarations given per test.

* ``Comment`` reaches the member along two foreign-key paths: its post's author
  (``post_id``) and its thread's starter (``thread_id``), so it needs ``via``;
* ``Message`` has a sender and a recipient: one hop with two keys, so a row may
  belong to two members (``shared``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flask_avg import AVG, ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from tests.support.app import app_settings


@dataclass
class Club:
    db: SQLAlchemy
    Member: Any
    Post: Any
    Thread: Any
    Comment: Any
    Message: Any

    def add(self, row: Any) -> Any:
        self.db.session.add(row)
        self.db.session.flush()
        return row

    def member(self, name: str, left_on: date | None = None) -> Any:
        return self.add(self.Member(name=name, left_on=left_on))

    def post(self, author: Any) -> Any:
        return self.add(self.Post(author_id=author.id, title=f"post by {author.name}"))

    def thread(self, starter: Any) -> Any:
        return self.add(self.Thread(starter_id=starter.id, title=f"thread by {starter.name}"))

    def comment(self, post: Any = None, thread: Any = None) -> Any:
        return self.add(
            self.Comment(
                post_id=post.id if post else None,
                thread_id=thread.id if thread else None,
                body="a comment",
            )
        )

    def message(self, sender: Any, recipient: Any) -> Any:
        return self.add(
            self.Message(
                sender_id=sender.id if sender else None,
                recipient_id=recipient.id if recipient else None,
                sender_name=sender.name if sender else None,
                recipient_name=recipient.name if recipient else None,
                body=f"from {sender.name if sender else '-'}",
            )
        )


def declare(
    comment: ModelPolicy | None = None,
    message: ModelPolicy | None = None,
    *,
    parties: bool | None = None,
    links_nullable: bool = True,
) -> Club:
    """Fresh models on a fresh ``SQLAlchemy()``; ``parties`` declares ``sender_name``
    and ``recipient_name`` with ``personal(party=...)`` (default: when the message
    policy says ``shared="keep"``)."""
    db = SQLAlchemy()
    if parties is None:
        parties = message is not None and message.shared == "keep"

    def party(name: str) -> dict[str, Any]:
        return personal("identity", party=name) if parties else personal("identity")

    class Member(db.Model, SubjectMixin):  # type: ignore[name-defined]
        __tablename__ = "fc_members"
        __avg__ = ModelPolicy(retention="members", anchor="left_on", basis="contract")
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), info=personal("identity"))
        left_on: Mapped[date | None] = mapped_column()

    class Post(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
        __tablename__ = "fc_posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("fc_members.id"))
        title: Mapped[str] = mapped_column(String(50), info=personal("communication"))

    class Thread(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
        __tablename__ = "fc_threads"
        id: Mapped[int] = mapped_column(primary_key=True)
        starter_id: Mapped[int] = mapped_column(ForeignKey("fc_members.id"))
        title: Mapped[str] = mapped_column(String(50), info=personal("communication"))

    class Comment(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
        __tablename__ = "fc_comments"
        __avg__ = comment or ModelPolicy()
        id: Mapped[int] = mapped_column(primary_key=True)
        post_id: Mapped[int | None] = mapped_column(ForeignKey("fc_posts.id"))
        thread_id: Mapped[int | None] = mapped_column(ForeignKey("fc_threads.id"))
        body: Mapped[str] = mapped_column(String(200), info=personal("communication"))
        post = relationship(Post)
        thread = relationship(Thread)

    class Message(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
        __tablename__ = "fc_messages"
        __avg__ = message or ModelPolicy()
        id: Mapped[int] = mapped_column(primary_key=True)
        sender_id: Mapped[int | None] = mapped_column(
            ForeignKey("fc_members.id"), nullable=links_nullable
        )
        recipient_id: Mapped[int | None] = mapped_column(
            ForeignKey("fc_members.id"), nullable=links_nullable
        )
        sender_name: Mapped[str | None] = mapped_column(String(50), info=party("sender_id"))
        recipient_name: Mapped[str | None] = mapped_column(String(50), info=party("recipient_id"))
        body: Mapped[str] = mapped_column(String(200), info=personal("communication"))

    return Club(db, Member, Post, Thread, Comment, Message)


def make_app(club: Club, url: str = "sqlite://") -> Flask:
    app = Flask(__name__)
    app.config.update(app_settings(url))
    club.db.init_app(app)
    LoginManager(app)
    AVG(app, club.db)
    return app


@contextmanager
def running(club: Club, url: str) -> Iterator[Flask]:
    """The club's app with empty tables, inside an app context."""
    app = make_app(club, url)
    db = club.db
    with app.app_context():
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        try:
            yield app
        finally:
            db.session.remove()
            db.drop_all()
            AvgBase.metadata.drop_all(db.engine)
            db.engine.dispose()
