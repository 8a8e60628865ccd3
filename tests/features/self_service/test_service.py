"""The Python API sends the same signals and writes the same audit entries as the pages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.signals import personal_data_changed, personal_data_viewed
from flask_avg.core.subjects import SubjectErased
from flask_avg.extension import get_state
from flask_avg.features.self_service import service
from tests.support.self_service import edit_data, logged_in, member_with_login


@pytest.fixture
def received(app) -> list[tuple[str, dict[str, Any]]]:
    got: list[tuple[str, dict[str, Any]]] = []

    def viewed(sender: Any, **kw: Any) -> None:
        got.append(("viewed", kw))

    def changed(sender: Any, **kw: Any) -> None:
        got.append(("changed", kw))

    personal_data_viewed.connect(viewed, sender=app)
    personal_data_changed.connect(changed, sender=app)
    yield got
    personal_data_viewed.disconnect(viewed, sender=app)
    personal_data_changed.disconnect(changed, sender=app)


def _actions() -> list[str]:
    return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_the_api_and_the_page_send_the_same(app, received):
    built = member_with_login(1)
    state = get_state()
    member = db.session.get(Member, built.member.id)

    service.view_own_data(state, member)
    changed = service.correct(state, member, {"phone": "06-11112222"}, actor="7")
    assert changed == ["phone"]
    assert service.correct(state, member, {"phone": "06-11112222"}, actor="7") == []
    by_api = [(kind, sorted(kw)) for kind, kw in received]
    api_audit = _actions()

    received.clear()
    client = logged_in(app.test_client(), built)
    assert client.get("/avg/me").status_code == 200
    db.session.refresh(built.member)
    response = client.post("/avg/me/edit", data=edit_data(client, built, f_phone="06-33334444"))
    assert response.status_code == 302
    by_page = [(kind, sorted(kw)) for kind, kw in received]

    assert (
        by_api
        == by_page
        == [
            ("viewed", ["subject"]),
            ("changed", ["actor", "fields", "model", "subject"]),
        ]
    )
    assert api_audit[-2:] == ["self.view", "self.edit"]
    assert _actions()[-2:] == ["self.view", "self.edit"]


def test_a_correction_for_an_erased_member_raises_and_writes_nothing(app, received):
    built = member_with_login(1)
    state = get_state()
    member_id = built.member.id
    member = db.session.get(Member, member_id)
    state.erase_subject(member_id)
    with pytest.raises(SubjectErased):
        service.correct(state, member, {"phone": "06-99990000"}, actor="7")
    db.session.rollback()
    assert received == []
    left = db.session.get(Member, member_id)
    assert left is None or left.phone != "06-99990000"
