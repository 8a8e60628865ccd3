"""The audit log: names not values, append-only, denials kept even when the request fails."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_app.models import db
from flask_avg.core.models import AuditEntry, AuditLogIsAppendOnly
from flask_avg.extension import get_state
from tests.support.app import login
from tests.support.factories import full_member


def test_record_keeps_field_names_and_counts_never_values(app):
    built = full_member(1)
    state = get_state()
    state.audit.record(
        "self.edit",
        subject=built.member.id,
        model="Member",
        fields=["phone", "email"],
        detail={"changed": 2},
        actor="7",
    )
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.actor == "7"
    assert entry.subject == str(built.member.id)
    assert entry.field_list == ["email", "phone"]
    assert entry.detail == {"changed": 2}
    row_text = " ".join(str(v) for v in db.session.execute(select(AuditEntry.__table__)).one())
    assert built.member.phone not in row_text and built.member.email not in row_text


def test_detail_refuses_values_that_are_not_counts_or_codes(app):
    with pytest.raises(ValueError, match="counts, dates or short codes"):
        get_state().audit.record("x", detail={"blob": object()})
    with pytest.raises(ValueError):
        get_state().audit.record("x", detail={"text": "x" * 500})


def test_entries_cannot_be_changed_or_deleted(app):
    get_state().audit.record("a")
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry)).one()
    entry.action = "b"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(AuditEntry)).one())
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()


def test_denied_access_is_logged_with_actor_and_endpoint(app, client):
    from example_app.demo import seed

    seed(n_members=5)
    login(client, "lid@example.org")
    response = client.get("/avg/members")
    assert response.status_code == 403
    db.session.remove()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).one()
    assert entry.action == "avg.members.view"
    assert entry.actor is not None
    assert entry.detail == {"endpoint": "avg_admin.members"}
