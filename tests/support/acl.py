"""Shared helpers for the ACL tests: one user per default group, quick logins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from example_app.models import db
from flask_avg.core.models import AuditEntry
from flask_avg.features.acl.models import Group, GroupMember, Rule
from tests.support.app import RequestClient
from tests.support.factories import full_member

#: The default groups from least to most privileged; "public" is the anonymous visitor.
LEVELS = ("public", "member", "board", "administrator", "super_user")


@dataclass
class Users:
    by_level: dict[str, Any]  # level -> User (None for public)

    def __getitem__(self, level: str) -> Any:
        return self.by_level[level]


def group(key: str) -> Group:
    found = db.session.scalars(select(Group).where(Group.key == key)).one()
    return found


def make_users() -> Users:
    """A user with a member record for each default group (member: no explicit group)."""
    users: dict[str, Any] = {"public": None}
    for n, level in enumerate(LEVELS[1:], start=1):
        built = full_member(n)
        users[level] = built.user
        if level != "member":
            db.session.add(GroupMember(user_id=str(built.user.id), group_id=group(level).id))
    db.session.commit()
    return Users(users)


def client_for(app: Flask, user: Any = None) -> RequestClient:
    client = RequestClient(app, app.response_class, use_cookies=True)
    return log_in(client, user)  # type: ignore[return-value]


def log_in(client: FlaskClient, user: Any) -> FlaskClient:
    """Log ``user`` in through Flask-Login's session keys (None: stay anonymous)."""
    with client.session_transaction() as sess:
        sess.clear()
        if user is not None:
            sess["_user_id"] = str(user.get_id())
            sess["_fresh"] = True
    return client


def acl_snapshot() -> dict[str, Any]:
    """Everything an ACL change could touch, for 'nothing changed' assertions."""
    db.session.rollback()
    snapshot = {
        "groups": sorted(
            (grp.id, grp.key, grp.title, grp.parent_id, grp.super_user)
            for grp in db.session.scalars(select(Group))
        ),
        "members": sorted((m.user_id, m.group_id) for m in db.session.scalars(select(GroupMember))),
        "rules": sorted((r.group_id, r.action, r.allow) for r in db.session.scalars(select(Rule))),
        "audit": db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("acl.%"))
        ),
    }
    db.session.rollback()
    return snapshot
