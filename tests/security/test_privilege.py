"""Every way up: a member, the board and an administrator post to every flask-avg form.

The POST routes are read from ``app.url_map``, so a route added later is attacked
too. Each is posted with a valid CSRF token, every id in its URL taken from the
club (every group, including one below Super User; the attacker's own records and
the Super User's), and a payload aimed at escalation: placed under Super User, the
attacker's own e-mail address as the new member, every rule set to allow, a request
completed. Afterwards nobody holds a right the attacker did not hold before, and an
attacker without ``avg.acl.manage`` changed nobody's rights at all. The administrator
may by design grant the rights below Super User (Joomla's model: managing permissions
is the right to grant them); Super User stays out of reach on every path.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g, url_for
from sqlalchemy import select

from example_app.models import Member, User, db
from flask_avg.extension import get_state
from flask_avg.features.acl import admin as acl_admin
from flask_avg.features.acl.service import GroupTree, acl_of
from tests.support.acl import client_for, group, make_users
from tests.support.app import csrf_token

ATTACKERS = ("member", "board", "administrator")


def rights() -> dict[str, frozenset[str]]:
    """Every account's allowed actions, computed afresh (no request's caches)."""
    db.session.rollback()
    for cache in ("_avg_subjects", "_avg_erased"):
        g.pop(cache, None)
    state = get_state()
    acl = acl_of(state)
    acl.invalidate()
    tree = acl.tree()
    out = {
        str(user.id): frozenset(
            action for action in state.actions if acl.decide_for(user, action, tree).allowed
        )
        for user in db.session.scalars(select(User))
    }
    db.session.rollback()
    return out


def super_state() -> tuple[set[int], set[str]]:
    """The Super User subtree's groups and its living members."""
    db.session.rollback()
    tree = GroupTree.load(db.session)
    found = (acl_admin.super_groups(tree), acl_admin.living_super_users(get_state()))
    db.session.rollback()
    return found


def post_routes(app: Flask) -> list[Any]:
    """flask-avg's POST routes (the host's own login and logout left out); erasure last,
    so the attacker's session outlives the attack."""
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and rule.endpoint.startswith("avg_")
    ]
    return sorted(rules, key=lambda r: (r.endpoint == "avg_retention.erase", r.rule))


def url_values(rule: Any, ids: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of candidate values for the rule's URL arguments."""
    combos: list[dict[str, Any]] = [{}]
    for arg in sorted(rule.arguments):
        combos = [{**c, arg: v} for c in combos for v in ids.get(arg, [1])]
    return combos


def payloads(state: Any, attacker: Any, parents: list[int]) -> list[dict[str, Any]]:
    """Form data aimed at escalation, one per target parent group."""
    every_rule = {f"rule-{action}": "allow" for action in state.actions}
    return [
        {
            "title": "Escalatie",
            "parent": parent,
            "email": attacker.email,
            "status": "completed",
            "reason": "omhoog",
            "group": "super_user",
            "user_id": str(attacker.id),
            **every_rule,
        }
        for parent in parents
    ]


def test_every_post_route_is_attacked(app):
    """The sweep below covers these forms; a new POST route is swept automatically,
    and this list says which families it must at least contain."""
    endpoints = {rule.endpoint for rule in post_routes(app)}
    for needed in (
        "avg_acl.add_group",
        "avg_acl.move_group",
        "avg_acl.add_member",
        "avg_acl.set_rules",
        "avg_acl.rename_group",
        "avg_retention.manage",
        "avg_accountability.consent_purpose_edit",
        "avg_accountability.breach_edit",
        "avg_self.request_detail",
    ):
        assert needed in endpoints


@pytest.mark.parametrize("level", ATTACKERS)
def test_nobody_gains_a_right_through_any_form(app, level):
    users = make_users()
    state = get_state()
    # a group below Super User, made from the command line: a second target
    below = acl_admin.add_group(state, "Noodbeheer", group("super_user").id)
    attacker = users[level]
    attacker_id = str(attacker.id)  # the board may erase its own account on the way
    supers_before = super_state()
    before = rights()
    ids = {
        "group_id": sorted(gid for gid in GroupTree.load(db.session).groups),
        "user_id": [attacker.id, users["super_user"].id],
        "subject_id": [
            m.id
            for m in db.session.scalars(
                select(Member).where(Member.user_id.in_([attacker.id, users["super_user"].id]))
            )
        ],
        "key": ["newsletter"],
    }
    forms = payloads(state, attacker, [group("super_user").id, below.id])
    client = client_for(app, attacker)
    token = csrf_token(client, "/login")
    errors = []
    sent = 0
    for rule in post_routes(app):
        for values in url_values(rule, ids):
            with app.test_request_context():
                url = url_for(rule.endpoint, **values)
            for data in forms:
                response = client.post(url, data={"csrf_token": token, **data})
                sent += 1
                if response.status_code >= 500:
                    errors.append((url, response.status_code))
    assert sent > 100
    assert errors == []
    after = rights()
    if "avg.acl.manage" not in before[attacker_id]:
        for user_id, allowed in after.items():
            gained = allowed - before.get(user_id, frozenset())
            assert not gained, f"user {user_id} gained {sorted(gained)} from a {level}"
    groups_after, living_after = super_state()
    assert groups_after == supers_before[0]
    assert living_after <= supers_before[1]
    assert attacker_id not in living_after
