"""Forged requests: users without ``avg.acl.manage`` POSTing to the ACL admin directly.

With or without a valid CSRF token they get 403; an administrator whose
request lacks the token gets 400. Nothing changes in any case.
"""

from __future__ import annotations

import pytest

from tests.support.acl import acl_snapshot, client_for, group, make_users
from tests.support.app import csrf_token


@pytest.fixture
def users(app):
    return make_users()


def forged_posts(users):
    board, member = group("board"), group("member")
    member_id = str(users["member"].id)
    return [
        ("/avg/acl/groups", {"title": "Hackers", "parent": board.id}),
        (f"/avg/acl/groups/{board.id}/rename", {"title": "Pwned"}),
        (f"/avg/acl/groups/{member.id}/move", {"parent": 0}),
        (f"/avg/acl/groups/{board.id}/members", {"email": "m1@example.org"}),
        (f"/avg/acl/groups/{board.id}/members/{str(users['board'].id)}/remove", {}),
        (f"/avg/acl/groups/{member.id}/rules", {"rule-avg.members.export": "allow"}),
        (f"/avg/acl/groups/{member.id}/members/{member_id}/remove", {}),
    ]


@pytest.mark.parametrize("level", ["member", "board"])
def test_users_without_acl_management_get_403_with_and_without_token(app, users, level):
    client = client_for(app, users[level])
    # A real token for this session, as a page of the site would hand it out.
    token = csrf_token(client, "/")
    before = acl_snapshot()
    for url, data in forged_posts(users):
        for with_token in (False, True):
            body = {**data, **({"csrf_token": token} if with_token else {})}
            response = client.post(url, data=body)
            assert response.status_code == 403, (url, with_token, response.status_code)
    after = acl_snapshot()
    assert after == before
    # The refusals themselves are in the audit log.
    from sqlalchemy import func, select

    from example_app.models import db
    from flask_avg.core.models import AuditEntry

    denied = db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied")
    )
    db.session.rollback()
    assert denied == 2 * len(forged_posts(users))


def test_an_administrator_without_a_token_gets_400_and_nothing_changes(app, users):
    client = client_for(app, users["administrator"])
    before = acl_snapshot()
    for url, data in forged_posts(users):
        assert client.post(url, data=data).status_code == 400, url
        bad = {**data, "csrf_token": "not-a-token"}
        assert client.post(url, data=bad).status_code == 400, url
    assert acl_snapshot() == before


def test_a_token_from_another_session_does_not_work(app, users):
    victim = client_for(app, users["administrator"])
    attacker = client_for(app, users["member"])
    stolen = csrf_token(attacker, "/")
    before = acl_snapshot()
    for url, data in forged_posts(users):
        assert victim.post(url, data={**data, "csrf_token": stolen}).status_code == 400, url
    assert acl_snapshot() == before


def test_get_cannot_change_anything(app, users):
    client = client_for(app, users["administrator"])
    before = acl_snapshot()
    for url, _data in forged_posts(users):
        assert client.get(url).status_code == 405, url
    assert acl_snapshot() == before
