"""De Wielewaal: an example Dutch sports-club website that mounts flask-avg.

Run it with ``make demo``. The flask-avg integration is the block marked
below; everything else is the club's own site.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask_login import LoginManager
from sqlalchemy import event
from sqlalchemy.engine import Engine

from flask_avg import AVG

from .models import Member, User, db
from .photos import MemberPhotos

login_manager = LoginManager()
avg = AVG(db=db, user_model=User, plugins=[MemberPhotos()])
login_manager.login_view = "club.login"
avg.consent_purpose(
    "newsletter",
    "Nieuwsbrief",
    "Ik wil de nieuwsbrief van De Wielewaal per e-mail ontvangen (ongeveer eens per maand).",
    "2026-1",
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@avg.subject_loader
def member_for(user: User) -> Member | None:
    return db.session.execute(
        db.select(Member).where(Member.user_id == user.id)
    ).scalar_one_or_none()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "change-me-in-production"),
        SQLALCHEMY_DATABASE_URI=os.environ.get(
            "DATABASE_URL", f"sqlite:///{Path(app.instance_path) / 'club.db'}"
        ),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(config or {})
    db.init_app(app)
    login_manager.init_app(app)

    # --- flask-avg integration -------------------------------------------
    app.config.setdefault("AVG_BASE_TEMPLATE", "base.html")
    app.config.setdefault("AVG_CLUB_NAME", "Sportvereniging De Wielewaal")
    app.config.setdefault("AVG_CLUB_CONTACT", "privacy@wielewaal.example.org")
    app.config.setdefault("AVG_NOUNS", "club")
    avg.init_app(app)
    # --- end of flask-avg integration --------------------------------------

    from . import demo, views

    app.register_blueprint(views.bp)
    app.cli.add_command(demo.seed_command)
    return app
