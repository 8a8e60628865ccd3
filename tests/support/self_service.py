"""Shared helpers for the self-service and request tests."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from example_app.models import db
from flask_avg.core.models import AuditEntry
from flask_avg.features.acl.models import Group, GroupMember
from tests.support.app import csrf_token, login
from tests.support.factories import Built, full_member

PASSWORD = "geheim-42"
#: a cheap hash keeps the tests quick; the check is the real werkzeug one
FAST_HASH = "pbkdf2:sha256:1000"


def member_with_login(n: int, **changes: Any) -> Built:
    built = full_member(n)
    built.user.password_hash = generate_password_hash(PASSWORD, method=FAST_HASH)
    for key, value in changes.items():
        setattr(built.member, key, value)
    db.session.commit()
    return built


def logged_in(client: FlaskClient, built: Built) -> FlaskClient:
    login(client, built.user.email, PASSWORD)
    return client


def edit_data(client: FlaskClient, built: Built, **overrides: Any) -> dict[str, Any]:
    """A full, valid correction post for ``built``, with ``overrides`` applied."""
    member = built.member
    data = {
        "csrf_token": csrf_token(client, "/avg/me/edit"),
        "subject": str(member.id),
        "f_email": member.email,
        "f_phone": member.phone or "",
        "f_street": member.street or "",
        "f_postcode": member.postcode or "",
        "f_city": member.city or "",
    }
    data.update(overrides)
    return data


def audit(action: str | None = None, outcome: str | None = None) -> list[AuditEntry]:
    # Denials are written on a connection of their own: end our snapshot to see them
    # (MariaDB's REPEATABLE READ would hide them otherwise).
    db.session.rollback()
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if outcome is not None:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    return list(db.session.scalars(stmt))


def details(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    return [json.loads(e.detail_json) if e.detail_json else {} for e in entries]


def make_board(built: Built) -> Built:
    """Put ``built``'s login in the Board group."""
    board = db.session.scalars(select(Group).where(Group.key == "board")).one()
    db.session.add(GroupMember(user_id=str(built.user.id), group_id=board.id))
    db.session.commit()
    return built


def dutch(text: Any) -> str:
    """A host text as the Dutch page shows it (plain, or ``{"nl": ..., "en": ...}``)."""
    return str(text["nl"]) if isinstance(text, dict) else str(text)


def declared_purpose(model_name: str) -> Any:
    """The purpose a declared model gives its columns (as declared)."""
    from flask_avg.extension import get_state

    return get_state().registry.get(model_name).policy.purpose
