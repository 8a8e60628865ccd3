"""Permissions are computed once per identity, and the per-process cache follows every change."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from flask_login import login_user
from sqlalchemy import event

from example_app.models import db
from flask_avg.features.acl.models import GroupMember, Rule
from flask_avg.features.acl.service import VERSION_KEY
from tests.support.acl import client_for, group, make_users


@pytest.fixture
def users(app):
    return make_users()


@contextmanager
def counted_selects():
    seen: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_many_checks_in_one_request_cost_no_more_queries_than_one(app, users):
    state = app.extensions["avg"]
    user_id = users["board"].id
    db.session.rollback()
    with app.app_context(), app.test_request_context("/"):
        from example_app.models import User

        login_user(db.session.get(User, user_id))
        state.acl.tree()  # warm the process cache, as any earlier request would
        with counted_selects() as one:
            assert state.can("avg.members.view")
        with counted_selects() as more:
            for action in list(state.actions) * 3:
                state.can(action)
        assert len(one) <= 3  # settings, member record, memberships (first time only)
        assert more == []


def test_a_second_request_reuses_the_process_cache(app, users):
    state = app.extensions["avg"]
    client = client_for(app, users["board"])
    assert client.get("/avg/members").status_code == 200
    cached = state.acl._cache
    assert client.get("/avg/members").status_code == 200
    assert state.acl._cache is cached


def test_direct_orm_changes_bump_the_version_too(app, users):
    """A host adding a membership or rule with the ORM needs no extra call."""
    state = app.extensions["avg"]
    member = client_for(app, users["member"])
    assert member.get("/avg/members").status_code == 403
    db.session.rollback()
    before = state.settings.get(VERSION_KEY)
    db.session.add(GroupMember(user_id=str(users["member"].id), group_id=group("board").id))
    db.session.commit()
    assert member.get("/avg/members").status_code == 200

    db.session.add(Rule(group_id=group("member").id, action="avg.members.view", allow=False))
    db.session.commit()
    assert member.get("/avg/members").status_code == 403
    db.session.rollback()
    from flask import g

    g.pop("_avg_settings", None)
    assert state.settings.get(VERSION_KEY) != before
    db.session.rollback()
