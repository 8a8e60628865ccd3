"""Secrets anonymise to NULL or to a fresh random value, never to one guessable from the key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy

from flask_avg import AVG, ModelPolicy, SubjectMixin, personal
from flask_avg.core.models import AvgBase
from flask_avg.core.registry import looks_secret
from flask_avg.extension import get_state
from flask_avg.features.retention.service import erase_subject, purge

db = SQLAlchemy()


class Login(db.Model, UserMixin, SubjectMixin):
    """A user who is the subject, with Flask-Security-like secrets."""

    __tablename__ = "sec_users"
    __avg__ = ModelPolicy(
        purpose="Accounts",
        basis="contract",
        erase="anonymise",
        retention="members",
        anchor="last_seen",
    )
    id = sa.Column(sa.Integer, primary_key=True)
    email = sa.Column(sa.String(120), unique=True, nullable=False, info=personal("account"))
    last_seen = sa.Column(sa.Date)
    # declared secret, unique, NOT NULL: random
    api_token = sa.Column(
        sa.String(64), unique=True, nullable=False, info=personal("account", secret=True)
    )
    # a secret by name only, never declared: rotated all the same (ends sessions)
    fs_uniquifier = sa.Column(sa.String(64), unique=True, nullable=False)
    # nullable secrets: NULL
    password = sa.Column(sa.String(255), info=personal("account", secret=True))
    tf_totp_secret = sa.Column(sa.String(255))
    # too short for a prefix: random digits only
    pin_hash = sa.Column(sa.String(12), nullable=False, info=personal("account", secret=True))
    salt = sa.Column(sa.LargeBinary(16), nullable=False, info=personal("account", secret=True))
    # not secrets, whatever their names say
    token_expiration = sa.Column(sa.DateTime, info=personal("account", export=True))
    password_changed_at = sa.Column(sa.DateTime, nullable=False, info=personal("account"))
    passport = sa.Column(sa.String(40), info=personal("identity", export=True))


def _app(url: str) -> Flask:
    app = Flask("secrets")
    app.config.update(
        SECRET_KEY="t", SQLALCHEMY_DATABASE_URI=url, AVG_BLUEPRINTS=("core",), SERVER_NAME="x.test"
    )
    db.init_app(app)
    LoginManager(app).user_loader(lambda uid: db.session.get(Login, int(uid)))
    AVG(app, db, user_model=Login)
    return app


@pytest.fixture
def secrets_app(db_url: str) -> Iterator[Flask]:
    app = _app(db_url)
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


def _user(n: int, seen: datetime | None = None) -> Login:
    row = Login(
        email=f"u{n}@example.org",
        last_seen=seen,
        api_token=f"live-token-{n}",
        fs_uniquifier=f"uniq-{n}",
        password="$pbkdf2$x",
        tf_totp_secret="JBSWY3DPEHPK3PXP",
        pin_hash=f"pin{n}",
        salt=bytes([n]) * 16,
        token_expiration=datetime(2030, 1, 1),
        password_changed_at=datetime(2024, 1, 1),
        passport=f"NL{n}",
    )
    db.session.add(row)
    db.session.flush()
    return row


def _row(key: int) -> dict[str, object]:
    table = Login.__table__
    return dict(db.session.execute(sa.select(table).where(table.c.id == key)).mappings().one())


def test_erased_users_secrets_are_random_fit_and_stay_unique(secrets_app):
    users = [_user(n) for n in (1, 2, 3)]
    db.session.commit()
    keys = [u.id for u in users]
    state = get_state()
    erase_subject(state, keys[0])
    erase_subject(state, keys[1])
    db.session.expire_all()
    a, b, kept = (_row(k) for k in keys)

    for row, key in ((a, keys[0]), (b, keys[1])):
        for name in ("api_token", "fs_uniquifier"):
            value = str(row[name])
            assert value.startswith("anon-") and len(value) == 5 + 32
            assert value not in (f"anon-{key}", f"anon-{key}@anon.invalid")
            assert all(ch in "0123456789abcdef" for ch in value[5:])
        assert row["password"] is None and row["tf_totp_secret"] is None
        assert len(str(row["pin_hash"])) == 12 and row["pin_hash"] != f"pin{key}"
        assert isinstance(row["salt"], bytes) and len(row["salt"]) == 16
        assert row["salt"] != bytes([key]) * 16
        # named like secrets, but dates: anonymised as dates (nullable -> NULL, else kept shape)
        assert row["token_expiration"] is None
        assert isinstance(row["password_changed_at"], datetime)
        assert row["passport"] is None
    # two erased users never share a secret, and neither is derived from the key
    for name in ("api_token", "fs_uniquifier", "pin_hash", "salt"):
        assert a[name] != b[name]
    assert a["api_token"] != f"anon-{keys[0]}" and a["fs_uniquifier"] != a["api_token"]
    assert kept["api_token"] == "live-token-3" and kept["fs_uniquifier"] == "uniq-3"


def test_purge_anonymises_secrets_once_and_unique_constraints_hold(secrets_app):
    old = datetime(2000, 1, 1)
    keys = [_user(n, seen=old).id for n in range(1, 6)]
    db.session.commit()
    state = get_state()
    first = purge(state)
    assert first.counts("members", "Login").anonymised == len(keys)
    db.session.expire_all()
    tokens = {str(_row(k)["fs_uniquifier"]) for k in keys}
    assert len(tokens) == len(keys) and all(t.startswith("anon-") for t in tokens)
    # recognised as anonymised: a second purge rotates nothing
    again = purge(state)
    assert again.counts("members", "Login").anonymised == 0
    db.session.expire_all()
    assert {str(_row(k)["fs_uniquifier"]) for k in keys} == tokens
    # the unique constraint is still enforced on the rotated column
    db.session.add(
        Login(
            email="new@example.org",
            api_token="n",
            fs_uniquifier=next(iter(tokens)),
            pin_hash="p",
            salt=b"s",
            password_changed_at=old,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    ("name", "type_", "secret"),
    [
        ("token_expiration", sa.DateTime(), False),
        ("password_changed_at", sa.DateTime(), False),
        ("token_count", sa.Integer(), False),
        ("otp_enabled", sa.Boolean(), False),
        ("passport_number", sa.String(20), False),
        ("footprint", sa.String(20), False),
        ("hashtag", sa.String(20), False),
        ("token_type", sa.Enum("bearer", "basic"), False),
        ("password_hash", sa.String(200), True),
        ("apiKey", sa.String(40), True),
        ("fs_uniquifier", sa.String(64), True),
        ("tf_totp_secret", sa.String(255), True),
        ("refresh_tokens", sa.Text(), True),
        ("salt", sa.LargeBinary(16), True),
    ],
)
def test_the_name_heuristic_reads_whole_name_parts_of_text_columns(name, type_, secret):
    assert looks_secret(sa.Column(name, type_)) is secret


def test_a_token_expiration_date_may_be_exported(secrets_app):
    model = get_state().registry.get("Login")
    exported = model.exported_columns()
    assert "token_expiration" in exported and "passport" in exported
    assert "api_token" not in exported and "password" not in exported
