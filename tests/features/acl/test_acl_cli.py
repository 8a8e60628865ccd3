"""``flask avg acl assign`` and ``flask avg acl check``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_app.models import db
from flask_avg.core.models import AuditEntry
from flask_avg.features.acl.models import GroupMember
from tests.support.acl import group, make_users


@pytest.fixture
def users(app):
    return make_users()


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["avg", "acl", *args])
    db.session.rollback()
    return result


def test_assign_bootstraps_an_administrator(app, users):
    result = run(app, "assign", "m1@example.org", "administrator")
    assert result.exit_code == 0, result.output
    assert "added to group Administrator" in result.output
    admin = group("administrator")
    assert db.session.get(GroupMember, (str(users["member"].id), admin.id)) is not None
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "acl.member.add")
    ).one()
    assert entry.detail == {"group": "administrator", "user": str(users["member"].id)}
    assert entry.actor is None
    again = run(app, "assign", "m1@example.org", "Administrator")
    assert again.exit_code == 0 and "already in group" in again.output


def test_assign_refuses_unknown_users_and_groups(app, users):
    result = run(app, "assign", "nobody@example.org", "board")
    assert result.exit_code != 0 and "no user" in result.output
    result = run(app, "assign", "m1@example.org", "kantine")
    assert result.exit_code != 0 and "no group 'kantine'" in result.output


def test_check_prints_the_decision_and_the_deciding_rule(app, users):
    result = run(app, "check", "m1@example.org", "avg.self.view")
    assert result.output.splitlines()[0] == "allowed"
    assert "allow on group member" in result.output

    result = run(app, "check", "m1@example.org", "avg.members.export")
    assert result.output.splitlines()[0] == "denied"
    assert "no group allows it" in result.output

    result = run(app, "check", "m2@example.org", "avg.members.export")
    assert result.output.splitlines()[0] == "allowed"
    assert "allow on group board" in result.output

    result = run(app, "check", "m4@example.org", "avg.acl.manage")
    assert result.output.splitlines()[0] == "allowed"
    assert "super user on group super_user" in result.output


def test_check_shows_a_deny_wins(app, users):
    from flask_avg.features.acl.admin import set_rules

    set_rules(app.extensions["avg"], group("member"), {"avg.members.view": False})
    result = run(app, "check", "m3@example.org", "avg.members.view")
    assert result.output.splitlines()[0] == "denied"
    assert "deny on group member" in result.output


def test_check_refuses_unknown_actions(app, users):
    result = run(app, "check", "m1@example.org", "avg.nonsense")
    assert result.exit_code != 0 and "unknown action" in result.output


def test_groups_prints_the_tree(app, users):
    result = run(app, "groups")
    lines = result.output.splitlines()
    assert lines[0].startswith("Public (public)")
    assert "      Board (board): 1" in lines
