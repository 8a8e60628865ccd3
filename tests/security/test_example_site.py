"""The example site as a model to copy: its secret key, logout, login throttle and login audit."""

from __future__ import annotations

import json
import os
import stat
import uuid

import pytest
from sqlalchemy import select

import example_app.views as club_views
from example_app import create_app, instance_secret_key
from example_app.models import User, db
from flask_avg.core.audit import login_hash
from flask_avg.core.models import AuditEntry
from tests.support.app import RequestClient, csrf_token, make_app
from tests.support.self_service import PASSWORD, member_with_login


def attempt(client, email: str, password: str, ip: str = "192.0.2.1"):
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def login_entries() -> list[AuditEntry]:
    db.session.rollback()
    found = list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("login.%")).order_by(AuditEntry.id)
        )
    )
    db.session.rollback()
    return found


@pytest.fixture
def member(app):
    return member_with_login(1)


# -- the secret key ----------------------------------------------------------------------


def test_secret_key_is_made_per_instance_kept_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    key = instance_secret_key(str(one))
    assert len(key) == 64 and int(key, 16) >= 0
    assert stat.S_IMODE(os.stat(one / "secret_key").st_mode) == 0o600
    assert instance_secret_key(str(one)) == key  # kept, not made again
    assert instance_secret_key(str(two)) != key  # every instance its own
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, instance_path=str(one))
    assert app.config["SECRET_KEY"] == key
    assert app.config["SECRET_KEY"] != "change-me-in-production"


def test_the_secret_key_environment_variable_still_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" + "x" * 40)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, instance_path=str(tmp_path))
    assert app.config["SECRET_KEY"].startswith("from-the-environment-")
    assert not (tmp_path / "secret_key").exists()


# -- logout ----------------------------------------------------------------------------------


def test_logout_ends_every_copy_of_the_session_and_the_remember_cookie(app, member):
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post(
        "/login",
        data={
            "email": "m1@example.org",
            "password": PASSWORD,
            "remember": "y",
            "csrf_token": token,
        },
    )
    session_cookie = client.get_cookie("session", domain="club.test")
    remember_cookie = client.get_cookie("remember_token", domain="club.test")
    assert session_cookie is not None and remember_cookie is not None
    copy = app.test_client()
    copy.set_cookie("session", session_cookie.value, domain=session_cookie.domain)
    remembered = app.test_client()
    remembered.set_cookie("remember_token", remember_cookie.value, domain=remember_cookie.domain)
    assert copy.get("/avg/me").status_code == 200
    assert remembered.get("/avg/me").status_code == 200

    token = csrf_token(client, "/avg/me")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert copy.get("/avg/me").status_code == 302  # to the login page
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember_cookie.value, domain=remember_cookie.domain)
    assert fresh.get("/avg/me").status_code == 302
    # logging in again works, with a new session
    assert attempt(client, "m1@example.org", PASSWORD).status_code == 302
    assert client.get("/avg/me").status_code == 200


def test_logout_without_a_csrf_token_is_refused(app, member):
    client = app.test_client()
    assert attempt(client, "m1@example.org", PASSWORD).status_code == 302
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/avg/me").status_code == 200  # still logged in
    db.session.rollback()
    assert db.session.scalars(select(User.session_version)).one() == 0


def test_a_cookie_without_the_session_version_is_refused(app, member):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(member.user.id)  # an id alone, as before versions existed
        sess["_fresh"] = True
    assert client.get("/avg/me").status_code == 302


# -- the throttle -------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_address_and_success_is_not_counted(app, member):
    client = app.test_client()
    for _ in range(7):  # successful logins never count against anybody
        assert attempt(client, "m1@example.org", PASSWORD).status_code == 302
    for n in range(5):
        assert attempt(client, f"wrong{n}@example.org", "nope").status_code == 200
    refused = attempt(client, "m1@example.org", PASSWORD)
    assert refused.status_code == 429  # even the right password waits now
    assert "Te veel mislukte pogingen" in refused.get_data(as_text=True)
    # another address is not held up
    assert attempt(app.test_client(), "m1@example.org", PASSWORD, ip="192.0.2.9").status_code == 302


def test_failed_logins_are_throttled_per_account_across_addresses(app, member):
    for n in range(5):
        response = attempt(app.test_client(), "m1@example.org", "nope", ip=f"198.51.100.{n}")
        assert response.status_code == 200
    refused = attempt(app.test_client(), "m1@example.org", PASSWORD, ip="198.51.100.99")
    assert refused.status_code == 429
    # a different account from a fresh address is not affected
    member_with_login(2)
    ok = attempt(app.test_client(), "m2@example.org", PASSWORD, ip="198.51.100.100")
    assert ok.status_code == 302


def test_the_throttle_is_shared_between_processes_through_redis(db_url, app, member):
    """Two app instances (two worker processes) count against one Redis store."""
    prefix = f"avg-test-{uuid.uuid4().hex}"
    shared = {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379", "RATELIMIT_KEY_PREFIX": prefix}
    first, second = make_app(db_url, **shared), make_app(db_url, **shared)
    alone = make_app(db_url)
    try:
        clients = []
        for worker in (first, second, alone):
            worker.test_client_class = RequestClient
            clients.append(worker.test_client())
        for n in range(5):  # the failures alternate between the two workers
            assert attempt(clients[n % 2], "m1@example.org", "nope").status_code == 200
        assert attempt(clients[1], "m1@example.org", PASSWORD).status_code == 429
        assert attempt(clients[0], "m1@example.org", PASSWORD).status_code == 429
        # a worker counting in memory only would not have noticed
        assert attempt(clients[2], "m1@example.org", PASSWORD).status_code == 302
    finally:
        for worker in (first, second, alone):  # their own connection pools
            with worker.app_context():
                db.engine.dispose()


# -- the audit log and timing ----------------------------------------------------------------


def test_failed_and_successful_logins_are_audited_without_the_typed_address(app, member):
    client = app.test_client()
    attempt(client, "nobody@example.org", "nope")
    attempt(client, "m1@example.org", "nope")
    attempt(client, "m1@example.org", PASSWORD)
    unknown, wrong, ok = login_entries()
    assert (unknown.action, unknown.outcome) == ("login.failed", "denied")
    detail = json.loads(unknown.detail_json)
    assert detail == {"reason": "unknown_account", "login_hash": login_hash("nobody@example.org")}
    assert "nobody" not in unknown.detail_json
    assert json.loads(wrong.detail_json) == {
        "reason": "wrong_password",
        "account": str(member.user.id),
    }
    assert (ok.action, ok.outcome, ok.actor) == ("login.succeeded", "ok", str(member.user.id))
    for _ in range(5):
        attempt(client, "nobody@example.org", "nope")
    attempt(client, "nobody@example.org", "nope")  # throttled: recorded as such
    assert json.loads(login_entries()[-1].detail_json)["reason"] == "throttled"


def test_the_audit_login_api_refuses_free_text_reasons(app):
    with app.test_request_context():
        from example_app import avg

        with pytest.raises(ValueError, match="short code"):
            avg.audit.login_failed(login="x@example.org", reason="Wrong password for x@example.org")
    assert login_entries() == []


def test_known_and_unknown_addresses_cost_one_password_check_each(app, member, monkeypatch):
    calls: list[str] = []
    real = club_views.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(club_views, "check_password_hash", counting)
    client = app.test_client()
    for email, password in (
        ("nobody@example.org", "nope"),
        ("m1@example.org", "nope"),
        ("m1@example.org", PASSWORD),
    ):
        calls.clear()
        attempt(client, email, password)
        assert len(calls) == 1, email
    calls.clear()
    attempt(client, "nobody@example.org", PASSWORD)
    assert calls == [club_views.DUMMY_HASH]


def test_an_inactive_account_costs_the_same_check_and_is_refused(app, member, monkeypatch):
    member.user.active = False
    db.session.commit()
    calls: list[str] = []
    real = club_views.check_password_hash
    monkeypatch.setattr(
        club_views, "check_password_hash", lambda h, p: calls.append(h) or real(h, p)
    )
    assert attempt(app.test_client(), "m1@example.org", PASSWORD).status_code == 200
    assert len(calls) == 1
    assert json.loads(login_entries()[-1].detail_json)["reason"] == "inactive"
