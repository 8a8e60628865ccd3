"""De Wielewaal: an example Dutch sports-club website that mounts flask-avg.

Run it with ``make demo``. The flask-avg integration is the block marked
below; everything else is the club's own site, written to be copied: a secret
key per instance, sessions that end at logout, throttled and audited logins
(see ``docs/security-example.rst``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from sqlalchemy import event
from sqlalchemy.engine import Engine

from flask_avg import AVG
from flask_avg.core.config import DEFAULTS
from flask_avg.core.crypto import generate_key

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
    """The user of a session or remember-me cookie, while its session version holds."""
    key, _sep, version = user_id.partition(":")
    try:
        user = db.session.get(User, int(key))
    except ValueError:
        return None
    if user is None or not user.is_active or version != str(user.session_version or 0):
        return None  # logged out since this cookie was made: every copy ends
    return user


def instance_secret_key(instance_path: str) -> str:
    """The instance's own secret key, made on first start and kept in
    ``instance/secret_key`` (readable by the owner only); never a fixed fallback."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def instance_encryption_keys(instance_path: str) -> str:
    """The instance's own encryption key for the medical notes, made on first start and
    kept in ``instance/encryption_keys`` (owner only). Production sets
    ``AVG_ENCRYPTION_KEYS`` in the environment and keeps the key out of the backups."""
    path = Path(instance_path) / "encryption_keys"
    if not path.exists():
        made = path.with_name(f".encryption_keys.{os.getpid()}")
        fd = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("k1:" + generate_key())
        try:
            os.link(made, path)  # appears whole; when another process was first, its key wins
        except FileExistsError:
            pass
        finally:
            made.unlink()
    return path.read_text().strip()


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


def create_app(config: dict[str, Any] | None = None, *, instance_path: str | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get(
            "DATABASE_URL", f"sqlite:///{Path(app.instance_path) / 'club.db'}"
        ),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(config or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite takes one writer at a time: the others wait their turn rather than fail
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or instance_secret_key(
            app.instance_path
        )
    # the key of the encrypted medical notes, like the secret key: the environment's, else
    # the instance's own file (a demo's; production keeps it away from the backups)
    if not app.config.get("AVG_ENCRYPTION_KEYS"):
        app.config["AVG_ENCRYPTION_KEYS"] = os.environ.get(
            "AVG_ENCRYPTION_KEYS"
        ) or instance_encryption_keys(app.instance_path)
    # the public request page for people without an account is opt-in: the club opts in,
    # a setting of its site like the ones above (the documented integration is below)
    app.config.setdefault("AVG_BLUEPRINTS", (*DEFAULTS["BLUEPRINTS"][0], "public_requests"))
    # failed logins per address and per account; RATELIMIT_STORAGE_URI (e.g. redis://...)
    # shares the counts between processes, the default memory:// counts per process
    app.config.setdefault("CLUB_LOGIN_LIMIT", "5 per minute;30 per hour")
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    db.init_app(app)
    login_manager.init_app(app)
    limiter = Limiter(get_remote_address, app=app)

    # --- flask-avg integration -------------------------------------------
    app.config.setdefault("AVG_BASE_TEMPLATE", "base.html")
    app.config.setdefault("AVG_CLUB_NAME", "Sportvereniging De Wielewaal")
    app.config.setdefault("AVG_CLUB_CONTACT", "privacy@wielewaal.example.org")
    app.config.setdefault("AVG_NOUNS", "club")
    avg.init_app(app)
    # --- end of flask-avg integration --------------------------------------

    from . import demo, views

    app.register_blueprint(views.bp)
    views.throttle_login(app, limiter, app.config["CLUB_LOGIN_LIMIT"])
    app.cli.add_command(demo.seed_command)
    return app
