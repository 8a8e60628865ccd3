"""People and fields by name on the pages of other features: requests, their handler."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from example_app.demo import seed
from example_app.models import Member, User, db
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from flask_avg.features.requests.models import DataRequest
from flask_avg.features.retention.service import erase_subject
from tests.support.app import login


def _request(subject: Member, handler: User | None, **values) -> int:
    now = utcnow()
    row = {
        "subject": str(subject.id),
        "kind": "correction",
        "field": "Member.last_name",
        "status": "in_progress",
        "open_key": "open",
        "received_at": now,
        "deadline": now + timedelta(days=30),
        "updated_at": now,
        "handled_by": str(handler.id) if handler else None,
        **values,
    }
    req = DataRequest(**row)
    db.session.add(req)
    db.session.commit()
    return int(req.id)


def _one(model, email: str):
    return db.session.scalars(select(model).where(model.email == email)).one()


def test_request_pages_name_the_member_the_field_and_the_handler(app, client):
    seed(n_members=3)
    member = _one(Member, "lid@example.org")
    board_user = _one(User, "bestuur@example.org")
    board_member = _one(Member, "bestuur@example.org")
    request_id = _request(member, board_user)
    login(client, "bestuur@example.org")
    detail = client.get(f"/avg/requests/{request_id}").get_data(as_text=True)
    label = f"{member.first_name} {member.last_name} ({member.member_number})"
    assert label in detail
    assert "Lid: Achternaam" in detail and "Member.last_name" not in detail
    assert f"{board_member.first_name} {board_member.last_name} (bestuur@example.org)" in detail
    queue = client.get("/avg/requests").get_data(as_text=True)
    assert label in queue


def test_an_erased_member_is_said_to_be_erased(app, client):
    seed(n_members=4)
    member = db.session.scalars(select(Member).order_by(Member.id.desc())).first()
    request_id = _request(member, None, status="closed", open_key=None)
    erase_subject(get_state(), member.id)
    db.session.commit()
    login(client, "bestuur@example.org")
    detail = client.get(f"/avg/requests/{request_id}").get_data(as_text=True)
    assert f"gewist lid #{member.id}" in detail
    assert "anon" not in detail.split("<main", 1)[-1]


def test_models_and_fields_by_their_labels(app):
    from flask import render_template_string

    with app.test_request_context("/"):
        html = render_template_string(
            "{{ 'SignUp'|avg_model }} / {{ 'Invoice'|avg_model }} / {{ 'audit_log'|avg_model }}"
            " / {{ 'Nothing'|avg_model }} / {{ 'Member.last_name'|avg_field }}"
            " / {{ 'Member.nope'|avg_field }} / {{ 'Nope.x'|avg_field }}"
        )
    assert html == (
        "Aanmeldingen / Facturen / Auditlog / Nothing / Lid: Achternaam / Lid: nope / Nope.x"
    )
