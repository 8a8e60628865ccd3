"""The three hosts behind the conformance scenario, each driven its own way."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from flask_principal import Permission, RoleNeed
from sqlalchemy import delete, select, update
from werkzeug.security import generate_password_hash

from tests.hosts.base import Host, Person, form_login
from tests.support import ROOT
from tests.support.app import engine_options

FAST_HASH = "pbkdf2:sha256:1000"
OLD = datetime(2010, 1, 1)


def _config(url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
    }


# -- the example club: plain Flask-Login, a member record beside the login --------


class ClubHost(Host):
    name = "club"
    sources = (ROOT / "example_app" / "__init__.py",)
    documented_lines = 5
    login_table = "users"
    holds = frozenset({"invoices", "payments"})
    role_url = "/_test/board-only"
    owned_sql = {
        "users": "SELECT * FROM users WHERE id = :uid",
        "members": "SELECT * FROM members WHERE id = :sid",
        "invoices": "SELECT * FROM invoices WHERE member_id = :sid",
        "payments": "SELECT * FROM payments WHERE invoice_id IN "
        "(SELECT id FROM invoices WHERE member_id = :sid)",
        "signups": "SELECT * FROM signups WHERE member_id = :sid",
        "messages": "SELECT * FROM messages WHERE sender_id = :sid OR recipient_id = :sid",
        "team_members": "SELECT * FROM team_members WHERE member_id = :sid",
    }

    def __init__(self) -> None:
        from example_app.models import User, db

        self.db = db
        self.user_model = User
        self._built: dict[int, Any] = {}

    def create_app(self, url: str) -> Flask:
        from example_app import create_app
        from example_app.models import User

        app = create_app({**_config(url), "CLUB_PHOTO_DIR": tempfile.mkdtemp(prefix="avg-")})

        # The club has no "remember me" box and no roles of its own: the tests add both.
        def remember(user_id: int) -> str:
            login_user(self.db.session.get(User, user_id), remember=True)
            return "ok"

        def board_only() -> str:
            Permission(RoleNeed("board")).test(403)
            return "board only"

        app.add_url_rule("/_test/remember/<int:user_id>", "test_remember", remember)
        app.add_url_rule(self.role_url, "test_board_only", board_only)
        return app

    def person(self, n: int, *, held: bool = True, old: bool = False) -> Person:
        from example_app.models import Invoice, Member, Payment, SignUp
        from tests.support.factories import full_member

        built = full_member(n)
        member_id = built.member.id
        invoices = select(Invoice.id).where(Invoice.member_id == member_id)
        if not held:
            self.db.session.execute(delete(Payment).where(Payment.invoice_id.in_(invoices)))
            self.db.session.execute(delete(Invoice).where(Invoice.member_id == member_id))
        if old:
            day = OLD.date()
            built.member.end_date = day
            self.db.session.execute(
                update(Invoice).where(Invoice.member_id == member_id).values(invoice_date=day)
            )
            self.db.session.execute(
                update(Payment).where(Payment.invoice_id.in_(invoices)).values(paid_on=day)
            )
            self.db.session.execute(
                update(SignUp).where(SignUp.member_id == member_id).values(signed_up_on=day)
            )
        password = f"pw-club-{n}"
        built.user.password_hash = generate_password_hash(password, method=FAST_HASH)
        self.db.session.commit()
        self._built[built.user.id] = built
        assert isinstance(built.member, Member)
        name = f"{built.member.first_name} {built.member.last_name}"
        return Person(built.user.id, member_id, built.user.email, password, name=name)

    def link(self, a: Person, b: Person) -> None:
        from tests.support.factories import message

        message(self._built[a.user_id], self._built[b.user_id])
        self.db.session.commit()

    def new_account(self, email: str, password: str, user_id: int | None = None) -> Person:
        from example_app.models import User

        user = User(
            id=user_id,
            email=email,
            password_hash=generate_password_hash(password, method=FAST_HASH),
            active=True,
        )
        self.db.session.add(user)
        self.db.session.commit()
        return Person(user.id, None, email, password)

    def change_password(self, person: Person, password: str) -> None:
        from example_app.models import User

        user = self.db.session.get(User, person.user_id)
        user.password_hash = generate_password_hash(password, method=FAST_HASH)
        self.db.session.commit()
        person.password = password

    def login(self, client: FlaskClient, person: Person, *, remember: bool = False) -> None:
        if remember:
            assert client.get(f"/_test/remember/{person.user_id}").status_code == 200
        else:
            form_login(client, person.email, person.password)


# -- Winkel: Flask-Security-Too -----------------------------------------------------


class SecurityHost(Host):
    name = "security"
    sources = (ROOT / "tests" / "hosts" / "security.py",)
    documented_lines = 29
    login_table = "shop_user"
    holds = frozenset({"shop_order"})
    role_url = "/backoffice"
    host_role = "board"
    owned_sql = {
        "shop_user": "SELECT * FROM shop_user WHERE id = :uid",
        "shop_profile": "SELECT * FROM shop_profile WHERE user_id = :uid",
        "shop_order": "SELECT * FROM shop_order WHERE user_id = :uid",
        "roles_users": "SELECT * FROM roles_users WHERE user_id = :uid",
    }

    def __init__(self) -> None:
        from tests.hosts import security

        self.module = security
        self.db = security.db
        self.user_model = security.User

    def create_app(self, url: str) -> Flask:
        return self.module.create_app(
            {
                **_config(url),
                "SECURITY_PASSWORD_HASH": "pbkdf2_sha512",
                "SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS": {"pbkdf2_sha512__rounds": 1000},
            }
        )

    def after_empty(self) -> None:
        for role in ("board", "member"):
            self.module.user_datastore.find_or_create_role(role)
        self.db.session.commit()

    def _create_user(self, email: str, password: str, user_id: int | None = None) -> Any:
        from flask_security import hash_password

        store = self.module.user_datastore
        extra = {"id": user_id} if user_id is not None else {}
        user = store.create_user(email=email, password=hash_password(password), **extra)
        self.db.session.flush()
        return user

    def person(self, n: int, *, held: bool = True, old: bool = False) -> Person:
        module = self.module
        password = f"pw-shop-{n}"
        user = self._create_user(f"shopper{n}@example.org", password)
        user.username = f"shopper{n}"
        user.last_login_at = datetime(2024, 5, n % 28 + 1, 10, 0)
        module.user_datastore.add_role_to_user(user, "member")
        self.db.session.add(
            module.Profile(
                user_id=user.id,
                address=f"Dorpsstraat {n}, Utrecht",
                phone=f"06-{n:08d}",
                health_note=f"bad knee {n}",
            )
        )
        module.new_order(user, f"W{n}-1", OLD.date(), "19.95")
        if held and not old:
            module.new_order(user, f"W{n}-2", date.today() - timedelta(days=400), "42.50")
        self.db.session.commit()
        return Person(user.id, user.id, user.email, password)

    def link(self, a: Person, b: Person) -> None:
        """Shop customers share nothing."""

    def new_account(self, email: str, password: str, user_id: int | None = None) -> Person:
        user = self._create_user(email, password, user_id)
        self.db.session.commit()
        return Person(user.id, user.id, email, password)

    def change_password(self, person: Person, password: str) -> None:
        from flask_security import admin_change_password

        user = self.db.session.get(self.module.User, person.user_id)
        admin_change_password(user, password, notify=False)
        self.db.session.commit()
        person.password = password

    def give_role(self, person: Person, role: str) -> None:
        user = self.db.session.get(self.module.User, person.user_id)
        self.module.user_datastore.add_role_to_user(user, role)
        self.db.session.commit()

    def login(self, client: FlaskClient, person: Person, *, remember: bool = False) -> None:
        form_login(client, person.email, person.password, remember=remember)


# -- Kring: an app factory, users as the subject -------------------------------------


class SocialHost(Host):
    name = "social"
    login_table = "social_users"
    sources = (ROOT / "tests" / "hosts" / "social.py",)
    documented_lines = 13
    role_url = "/moderation"
    host_role = "moderator"
    login_redirect = "why=login-required"
    owned_sql = {
        "social_users": "SELECT * FROM social_users WHERE id = :uid",
        "social_followers": "SELECT * FROM social_followers "
        "WHERE follower_id = :uid OR followed_id = :uid",
        "social_posts": "SELECT * FROM social_posts WHERE author_id = :uid",
        "social_messages": "SELECT * FROM social_messages "
        "WHERE sender_id = :uid OR recipient_id = :uid",
        "social_notifications": "SELECT * FROM social_notifications WHERE user_id = :uid",
        "social_search": "SELECT * FROM social_search WHERE post_id IN "
        "(SELECT id FROM social_posts WHERE author_id = :uid)",
    }

    def __init__(self) -> None:
        from tests.hosts import social

        self.module = social
        self.db = social.db
        self.user_model = social.User

    def create_app(self, url: str) -> Flask:
        return self.module.create_app({**_config(url), "PASSWORD_HASH_METHOD": FAST_HASH})

    def _user(self, email: str, name: str, password: str, user_id: int | None = None) -> Any:
        user = self.module.User(id=user_id, email=email, name=name, password_hash="-")
        self.module.set_password(user, password)
        self.db.session.add(user)
        self.db.session.flush()
        return user

    def person(self, n: int, *, held: bool = True, old: bool = False) -> Person:
        module = self.module
        password = f"pw-kring-{n}"
        user = self._user(f"kring{n}@example.org", f"Person {n}", password)
        user.bio = f"bio of person {n}"
        if old:
            user.closed_at = OLD
        when = OLD if old else datetime.now() - timedelta(days=2)
        self.db.session.add_all(
            [
                module.Post(author_id=user.id, body=f"Hello from person {n}", posted_at=when),
                module.Post(author_id=user.id, body=f"Person {n} again", posted_at=when),
                module.Notification(user_id=user.id, text="welcome", created_at=OLD),
                module.Notification(user_id=user.id, text="a like", created_at=when),
            ]
        )
        self.db.session.commit()
        return Person(user.id, user.id, user.email, password)

    def link(self, a: Person, b: Person) -> None:
        module = self.module
        now = datetime(2025, 1, 2, 3, 4)
        self.db.session.add(
            module.Message(
                sender_id=a.user_id,
                recipient_id=b.user_id,
                sender_name=a.email,
                body="hi there",
                sent_at=now,
            )
        )
        self.db.session.execute(
            module.followers.insert().values(
                follower_id=a.user_id, followed_id=b.user_id, since=now
            )
        )
        self.db.session.commit()

    def new_account(self, email: str, password: str, user_id: int | None = None) -> Person:
        user = self._user(email, "Newcomer", password, user_id)
        self.db.session.commit()
        return Person(user.id, user.id, email, password)

    def change_password(self, person: Person, password: str) -> None:
        user = self.db.session.get(self.module.User, person.user_id)
        self.module.set_password(user, password)
        self.db.session.commit()
        person.password = password

    def give_role(self, person: Person, role: str) -> None:
        user = self.db.session.get(self.module.User, person.user_id)
        user.role = role
        self.db.session.commit()

    def login(self, client: FlaskClient, person: Person, *, remember: bool = False) -> None:
        form_login(client, person.email, person.password, remember=remember)

    def search(self, words: str) -> list[Any] | None:
        return self.module.search(words)


HOSTS: dict[str, type[Host]] = {"club": ClubHost, "security": SecurityHost, "social": SocialHost}
