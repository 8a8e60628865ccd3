"""A small host built by an app factory, the way many Flask sites are, for the CLI and
Flask-Migrate tests.

* Its Flask-Babel locale selector reads ``request`` (the visitor's Accept-Language),
  so anything translated outside a request context crashes;
* users are the subject and log in themselves; their posts point to them;
* with ``migrate=`` it runs Flask-Migrate on its own ``db``, initialised before or after
  flask-avg, the two orders hosts write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, Literal

from flask import Flask, request
from flask_babel import Babel
from flask_login import LoginManager, UserMixin
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg import AVG, ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from flask_avg.migrations import VERSION_TABLE
from tests.support.app import app_settings

db = SQLAlchemy()
login_manager = LoginManager()
babel = Babel()

#: every locale the selector chose, so a test can see it really was asked
locales_chosen: list[str | None] = []


class User(db.Model, UserMixin, SubjectMixin):  # type: ignore[name-defined]
    __tablename__ = "fh_users"
    __avg__ = ModelPolicy(
        retention="members", anchor="left_on", purpose="Accounts", basis="contract"
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True, info=personal("contact"))
    name: Mapped[str] = mapped_column(String(80), info=personal("identity"))
    password_hash: Mapped[str] = mapped_column(String(200), info=personal("account", secret=True))
    left_on: Mapped[date | None] = mapped_column()


class Post(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
    __tablename__ = "fh_posts"
    __avg__ = ModelPolicy(purpose="Posts", basis="contract")

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("fh_users.id"))
    body: Mapped[str] = mapped_column(String(200), info=personal("communication"))


avg = AVG(db=db, user_model=User)


def select_locale() -> str | None:
    locale = request.accept_languages.best_match(["nl", "en"])
    locales_chosen.append(locale)
    return locale


def create_app(
    url: str,
    *,
    migrate_order: Literal["before", "after"] | None = None,
    migrations: str = "migrations",
    migrate_args: dict[str, Any] | None = None,
    **config: Any,
) -> Flask:
    """The host's factory; ``migrate_order`` says where Flask-Migrate is initialised,
    ``migrate_args`` are the host's own options for it (``include_name=...``)."""
    app = Flask(__name__)
    app.config.update(app_settings(url, "social.test", **config))
    db.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    migrate = Migrate(directory=migrations, **(migrate_args or {}))
    if migrate_order == "before":
        migrate.init_app(app, db)
    avg.init_app(app)
    if migrate_order == "after":
        migrate.init_app(app, db)
    return app


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def drop_all() -> None:
    """The host's tables, flask-avg's and both version tables (the host's from Flask-Migrate)."""
    db.session.remove()
    db.drop_all()
    AvgBase.metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        for table in (VERSION_TABLE, "alembic_version"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


@contextmanager
def running(url: str, **options: Any) -> Iterator[Flask]:
    """The host's app inside an app context, on a database emptied before and after."""
    app = create_app(url, **options)
    with app.app_context():
        drop_all()
        try:
            yield app
        finally:
            drop_all()
            db.engine.dispose()
