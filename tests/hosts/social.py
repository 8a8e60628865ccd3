"""Kring: a small social site built with an app factory, for the host conformance tests.

Users are the people (the data subject): they write posts, send each other
messages, follow each other and get notifications. Posts are copied into a
search index by ORM events, as a site with a full-text search would. The
extensions are created here and bound to each app in :func:`create_app`;
Flask-Babel's locale selector reads the request; Flask-Migrate keeps the schema.

The flask-avg integration is the blocks marked ``flask-avg integration``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import Babel
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_migrate import Migrate
from flask_principal import Identity, Permission, Principal, RoleNeed, identity_loaded
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from sqlalchemy import event
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired

# --- flask-avg integration
from flask_avg import AVG, ModelPolicy, PersonalDataMixin, RetentionCategory, SubjectMixin, personal

# --- end of flask-avg integration

db = SQLAlchemy()
login_manager = LoginManager()
babel = Babel()
migrate = Migrate()
principal = Principal(use_sessions=False)
# --- flask-avg integration
avg = AVG(db=db)
avg.add_retention_category(RetentionCategory("notifications", "Notifications", "sent", 90))
# --- end of flask-avg integration


class User(db.Model, UserMixin, SubjectMixin):  # type: ignore[name-defined]
    __tablename__ = "social_users"
    # --- flask-avg integration
    __avg__ = ModelPolicy(retention="members", anchor="closed_at", basis="contract")
    # --- end of flask-avg integration

    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(200), unique=True, nullable=False, info=personal("account"))
    name = db.Column(db.String(100), nullable=False, info=personal("identity", editable=True))
    bio = db.Column(db.String(500), info=personal("identity", editable=True))
    password_hash = db.Column(db.String(200), nullable=False, info=personal("account", secret=True))
    #: the site's own role ("moderator", ...), checked with Flask-Principal
    role = db.Column(db.String(40), info=personal("account"))
    created_at = db.Column(db.DateTime, nullable=False, default=datetime.now)
    closed_at = db.Column(db.DateTime, info=personal("account"))


#: who follows whom: both keys point at users
followers = db.Table(
    "social_followers",
    db.Column("follower_id", db.ForeignKey("social_users.id"), primary_key=True),
    db.Column("followed_id", db.ForeignKey("social_users.id"), primary_key=True),
    db.Column("since", db.DateTime, info=personal("activity")),
    # --- flask-avg integration
    info={"avg": ModelPolicy(basis="contract")},
    # --- end of flask-avg integration
)


class Post(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
    __tablename__ = "social_posts"
    id = db.Column(db.Integer, primary_key=True)
    author_id = db.Column(db.ForeignKey("social_users.id"), nullable=False, index=True)
    body = db.Column(db.String(1000), nullable=False, info=personal("communication"))
    posted_at = db.Column(db.DateTime, nullable=False, info=personal("activity"))


class Message(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
    """A message between two users; it stays in the other's inbox when one is erased."""

    __tablename__ = "social_messages"
    # --- flask-avg integration
    __avg__ = ModelPolicy(shared="keep")
    # --- end of flask-avg integration
    id = db.Column(db.Integer, primary_key=True)
    sender_id = db.Column(db.ForeignKey("social_users.id"), index=True)
    recipient_id = db.Column(db.ForeignKey("social_users.id"), index=True)
    sender_name = db.Column(db.String(100), info=personal("identity", party="sender_id"))
    body = db.Column(db.String(1000), nullable=False, info=personal("communication"))
    sent_at = db.Column(db.DateTime, nullable=False, info=personal("communication"))


class Notification(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
    __tablename__ = "social_notifications"
    # --- flask-avg integration
    __avg__ = ModelPolicy(retention="notifications", anchor="created_at")
    # --- end of flask-avg integration
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("social_users.id"), nullable=False, index=True)
    text = db.Column(db.String(200), nullable=False, info=personal("activity"))
    created_at = db.Column(db.DateTime, nullable=False, info=personal("activity"))


class SearchEntry(db.Model):  # type: ignore[name-defined]
    """The site's search index: a copy of each post's words, kept by ORM events
    (a stand-in for Elasticsearch or Whoosh, which no foreign key reaches either)."""

    __tablename__ = "social_search"
    id = db.Column(db.Integer, primary_key=True)
    post_id = db.Column(db.Integer, nullable=False, unique=True)
    words = db.Column(db.String(1000), nullable=False)


def _index(connection: Any, post: Post) -> None:
    table = SearchEntry.__table__
    connection.execute(table.delete().where(table.c.post_id == post.id))
    connection.execute(table.insert().values(post_id=post.id, words=post.body.lower()))


@event.listens_for(Post, "after_insert")
def _post_added(_mapper: Any, connection: Any, post: Post) -> None:
    _index(connection, post)


@event.listens_for(Post, "after_update")
def _post_changed(_mapper: Any, connection: Any, post: Post) -> None:
    _index(connection, post)


@event.listens_for(Post, "after_delete")
def _post_removed(_mapper: Any, connection: Any, post: Post) -> None:
    table = SearchEntry.__table__
    connection.execute(table.delete().where(table.c.post_id == post.id))


# --- flask-avg integration
@avg.before_erase(Post)
def _unindex_erased_posts(post_ids: list[Any], _action: str) -> None:
    # Erasure is set-based SQL: the ORM events above do not see it.
    table = SearchEntry.__table__
    db.session.execute(table.delete().where(table.c.post_id.in_(post_ids)))


# --- end of flask-avg integration


def search(words: str) -> list[int]:
    """Post ids whose text contains ``words``."""
    table = SearchEntry.__table__
    query = db.select(table.c.post_id).where(table.c.words.contains(words.lower()))
    return sorted(db.session.scalars(query))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


@login_manager.unauthorized_handler
def _please_log_in() -> Any:
    return redirect(url_for("social.login", next=request.path, why="login-required"))


@principal.identity_loader
def _identity() -> Identity | None:
    return Identity(current_user.id, "social") if current_user.is_authenticated else None


def _site_roles(_app: Any, identity: Identity) -> None:
    if current_user.is_authenticated and current_user.role:
        identity.provides.add(RoleNeed(current_user.role))


def pick_locale() -> str | None:
    return request.accept_languages.best_match(["nl", "en"])


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Remember me")


bp = Blueprint("social", __name__)
moderators = Permission(RoleNeed("moderator"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalars(db.select(User).where(User.email == form.email.data)).first()
        if user is not None and check_password_hash(user.password_hash, form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect("/")
    return f'<form method="post">{form.csrf_token}</form>', 200


@bp.route("/moderation")
@login_required
def moderation() -> Any:
    if not moderators.can():
        abort(403)
    return "moderation queue"


def set_password(user: User, password: str) -> None:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    user.password_hash = generate_password_hash(password, method=method)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="change-me", PASSWORD_HASH_METHOD="scrypt")
    app.config.update(config or {})
    db.init_app(app)
    migrate.init_app(app, db)
    login_manager.init_app(app)
    login_manager.login_view = "social.login"
    babel.init_app(app, locale_selector=pick_locale)
    principal.init_app(app)
    identity_loaded.connect_via(app)(_site_roles)
    app.register_blueprint(bp)
    # --- flask-avg integration
    app.config.setdefault("AVG_CLUB_NAME", "Kring")
    avg.init_app(app)
    # --- end of flask-avg integration
    return app
