"""Identity on any login system: accounts keyed by primary key, namespaced needs,
host roles mapped to groups, and sessions that end with the erased account.

The Flask-Security and app-factory hosts run the same behaviour end to end in
``tests/hosts``; these tests pin each piece down on the example club.
"""

from __future__ import annotations

from datetime import date

import pytest
from flask_principal import Permission, RoleNeed
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from example_app.models import Member, User, db
from flask_avg.core.identity import actor_labels, user_key, user_label
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.acl.models import GroupMember
from flask_avg.features.retention.models import LedgerEntry
from tests.support.acl import client_for, group, make_users
from tests.support.app import RequestClient, login
from tests.support.factories import full_member


def test_user_key_is_the_primary_key_not_what_get_id_returns(app, monkeypatch):
    built = full_member(1)
    db.session.commit()
    # Flask-Security's get_id() is a rotating token; flask-avg never stores it
    monkeypatch.setattr(User, "get_id", lambda self: "tok-" + str(self.id * 7))
    assert user_key(built.user) == str(built.user.id)
    assert user_label(built.user) == "m1@example.org"
    assert actor_labels(get_state(), [str(built.user.id), "999999", ""]) == {
        str(built.user.id): "m1@example.org"
    }


def test_groups_and_audit_actor_survive_a_changing_get_id(app, monkeypatch):
    users = make_users()
    board_id = users["board"].id
    other = db.session.scalars(select(Member.id).where(Member.user_id == users["member"].id)).one()
    db.session.rollback()
    tokens = iter(f"token-{n}" for n in range(1000))
    # a new token on every call, worse than a password change
    monkeypatch.setattr(User, "get_id", lambda self: next(tokens))
    client = client_for(app, None)
    with client.session_transaction() as sess:
        sess["_user_id"] = "token-x"
        sess["_fresh"] = True
    app.login_manager._user_callback = lambda _id: db.session.get(User, board_id)
    try:
        assert client.get(f"/avg/members/{other}").status_code == 200
    finally:
        from example_app import load_user

        app.login_manager._user_callback = load_user
    actors = set(db.session.scalars(select(AuditEntry.actor).where(AuditEntry.actor.is_not(None))))
    assert actors == {str(board_id)}


@pytest.fixture
def host_role_view(app):
    """A host page guarded by the host's own role check, through Flask-Principal."""

    def board_only():
        Permission(RoleNeed("board")).test(403)
        return "host board page"

    app.add_url_rule("/host/board", "host_board", board_only)
    return "/host/board"


def test_flask_avg_groups_never_satisfy_a_host_role_check(app, host_role_view):
    users = make_users()
    for level in ("board", "administrator", "super_user"):
        client = client_for(app, users[level])
        assert client.get("/avg/members").status_code == 200, level
        assert client.get(host_role_view).status_code == 403, level


def test_host_roles_map_to_groups_and_the_acl_page_says_so(app, monkeypatch):
    users = make_users()
    member = users["member"]
    app.config["AVG_ROLE_GROUPS"] = {"bestuur": "board"}
    monkeypatch.setattr(
        User, "roles", property(lambda self: ["bestuur"] if self.id == member.id else []), False
    )
    assert client_for(app, member).get("/avg/members").status_code == 200
    assert client_for(app, users["board"]).get("/avg/members").status_code == 200
    page = client_for(app, users["administrator"]).get(f"/avg/acl/groups/{group('board').id}")
    text = page.get_data(as_text=True)
    assert "bestuur" in text
    # not a stored membership: taking the role away takes the group away
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(GroupMember)
            .where(GroupMember.user_id == str(member.id))
        )
        == 0
    )
    app.config["AVG_ROLE_GROUPS"] = {}
    assert client_for(app, member).get("/avg/members").status_code == 403


def test_anonymous_visitors_go_through_the_login_managers_unauthorized(app, monkeypatch):
    calls = []

    def unauthorized():
        calls.append(True)
        return "please log in", 401

    monkeypatch.setattr(app.login_manager, "unauthorized_callback", unauthorized)
    page = app.test_client().get("/avg/me")
    assert page.status_code == 401 and page.get_data(as_text=True) == "please log in"
    assert calls


def _member_with_password(n: int) -> tuple[int, int]:
    built = full_member(n)
    built.user.password_hash = generate_password_hash("avg-demo")
    db.session.commit()
    return built.member.id, built.user.id


def _remember_cookies(client) -> dict[str, str]:
    names = ("remember_token", "avg_since")
    return {
        name: cookie.value
        for name in names
        if (cookie := client.get_cookie(name, domain="club.test")) is not None
    }


def _remember_login(client, email: str) -> None:
    from tests.support.app import csrf_token

    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": email, "password": "avg-demo", "remember": "y", "csrf_token": token},
    )
    assert response.status_code == 302


def _only_cookies(app, cookies: dict[str, str]) -> RequestClient:
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value, domain="club.test")
    return client


def test_erased_sessions_and_remember_cookies_end_and_a_reused_id_works(app):
    member_id, user_id = _member_with_password(1)
    _member_with_password(2)  # somebody else, who stays
    old = app.test_client()
    _remember_login(old, "m1@example.org")
    cookies = _remember_cookies(old)
    assert set(cookies) == {"remember_token", "avg_since"}
    assert _only_cookies(app, cookies).get("/avg/me").status_code == 200

    get_state().erase_subject(member_id)
    db.session.commit()
    assert old.get("/avg/me").status_code == 302
    assert _only_cookies(app, cookies).get("/avg/me").status_code == 302

    # a new account takes the erased id (SQLite hands it out again by itself)
    newcomer = User(id=user_id, email="new@example.org", active=True)
    newcomer.password_hash = generate_password_hash("avg-demo")
    db.session.add(newcomer)
    db.session.flush()
    db.session.add(
        Member(
            user_id=user_id,
            member_number="N0001",
            first_name="Nieuw",
            last_name="Lid",
            email="new@example.org",
            start_date=date.today(),
        )
    )
    db.session.commit()
    assert (
        db.session.scalars(select(LedgerEntry.action).where(LedgerEntry.key == str(user_id))).all()[
            -1
        ]
        == "reused"
    )
    fresh = app.test_client()
    login(fresh, "new@example.org")
    for _ in range(3):
        page = fresh.get("/avg/me")
        assert page.status_code == 200
        assert "Nieuw" in page.get_data(as_text=True)
    # the erased person's old session and cookie still do not get in as the newcomer
    assert old.get("/avg/me").status_code == 302
    assert _only_cookies(app, cookies).get("/avg/me").status_code == 302
    # and the new account has none of the old one's groups
    assert (
        db.session.scalars(select(GroupMember).where(GroupMember.user_id == str(user_id))).all()
        == []
    )


def test_group_needs_include_the_groups_inherited_from_and_only_those(app):
    from flask_avg.features.acl.service import group_need

    users = make_users()
    acl = get_state().acl
    with app.test_request_context("/"):
        board = acl.identity_needs(users["board"])
        member = acl.identity_needs(users["member"])
    # board inherits from member, registered and public (Joomla's authorised groups)
    for key in ("board", "member", "registered", "public"):
        assert group_need(key) in board, key
    assert group_need("administrator") not in board
    assert group_need("member") in member and group_need("board") not in member
    # an account without a member record is registered, not a member
    loose = User(email="loose@example.org", password_hash="x", active=True)
    db.session.add(loose)
    db.session.commit()
    with app.test_request_context("/"):
        needs = acl.identity_needs(loose)
    assert group_need("registered") in needs and group_need("member") not in needs


def test_needs_are_worked_out_when_a_permission_reads_them(app):
    from flask_principal import ActionNeed, Identity

    from flask_avg.features.acl.service import LazyNeeds

    users = make_users()
    acl = get_state().acl
    with app.test_request_context("/"):
        from flask_login import login_user

        login_user(users["board"])
        identity = acl.load_needs(Identity(users["board"].id))
        assert isinstance(identity.provides, LazyNeeds)
        identity.provides.add(RoleNeed("host-role"))  # another handler's need: not read yet
        assert repr(identity.provides) == "LazyNeeds(<not read yet>)"
        assert Permission(ActionNeed("avg.members.view")).allows(identity)
        assert RoleNeed("host-role") in identity.provides
        assert not Permission(ActionNeed("avg.acl.manage")).allows(identity)
