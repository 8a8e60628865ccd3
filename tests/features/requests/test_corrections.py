"""Correction requests the board finishes in the app: the requested value, applied through
the same field check as self-service (audited, signalled) or rejected with a reason;
several fields at once; the member told by mail (a real SMTP server)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.core.signals import personal_data_changed
from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from flask_avg.features.requests.service import DataRequest
from tests.support.app import csrf_token
from tests.support.self_service import (
    audit,
    details,
    logged_in,
    make_board,
    member_with_login,
)
from tests.support.smtp import SmtpServer, smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name


@pytest.fixture
def mail_app(app, smtp_server: SmtpServer):
    app.config.update(smtp_server.config)
    return app


def ask(client, field: str, value: str, message: str = ""):
    token = csrf_token(client, "/avg/me/requests")
    data = {"csrf_token": token, "kind": "correction", "field": field, "value": value}
    if message:
        data["message"] = message
    return client.post("/avg/me/requests", data=data)


def apply(client, request_id: int):
    url = f"/avg/requests/{request_id}"
    token = csrf_token(client, url)
    return client.post(url + "/apply", data={"csrf_token": token})


def board_action(client, request_id: int, status: str, reason: str = ""):
    url = f"/avg/requests/{request_id}"
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token, "status": status, "reason": reason})


def stored() -> list[DataRequest]:
    db.session.rollback()
    return list(db.session.scalars(select(DataRequest).order_by(DataRequest.id)))


def member_row(member_id: int) -> Member:
    db.session.rollback()
    member = db.session.get(Member, member_id)
    assert member is not None
    return member


def test_member_asks_a_correction_board_applies_it_member_sees_it_and_a_mail(mail_app, smtp_server):
    a = member_with_login(1, last_name="Jansen")
    boss = make_board(member_with_login(9))
    member = logged_in(mail_app.test_client(), a)
    assert ask(member, "last_name", "Janssen", "Met dubbel s").status_code == 302
    req = stored()[0]
    assert (req.field, req.new_value, req.message) == (
        "Member.last_name",
        "Janssen",
        "Met dubbel s",
    )

    board = logged_in(mail_app.test_client(), boss)
    page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    # the field's label, the current and the requested value; no bare "complete" button
    assert "Achternaam" in page and "Member.last_name" not in page.split("data-field=")[0]
    assert '<dd class="avg-current-value">Jansen</dd>' in page
    assert '<dd class="avg-requested-value">Janssen</dd>' in page
    assert "Correctie doorvoeren" in page
    assert 'value="completed"' not in page

    changed: list[dict] = []

    def receiver(sender, **kwargs):
        changed.append(kwargs)

    with personal_data_changed.connected_to(receiver, mail_app):
        assert apply(board, req.id).status_code == 302
    assert member_row(a.member.id).last_name == "Janssen"
    done = stored()[0]
    assert done.status == "completed" and done.handled_by == str(boss.user.id)
    assert [c["fields"] for c in changed] == [["last_name"]]
    assert changed[0]["actor"] == str(boss.user.id)
    edits = audit("self.edit")
    assert len(edits) == 1 and edits[0].actor == str(boss.user.id)
    assert [d["kind"] for d in details(audit("request.completed"))] == ["correction"]

    # the member sees the new value, and the request as completed
    mine = member.get("/avg/me").get_data(as_text=True)
    assert "Janssen" in mine
    requests_page = member.get("/avg/me/requests").get_data(as_text=True)
    assert 'data-status="completed"' in requests_page
    last = smtp_server.to("m1@example.org")[-1]
    assert "Je verzoek is afgehandeld" in str(last["Subject"])
    assert "We hebben je gegevens gecorrigeerd: Achternaam." in text_of(last)


def test_several_fields_at_once_and_one_open_request_per_field(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    assert ask(client, "last_name", "Pietersen").status_code == 302
    assert ask(client, "first_name", "Anna").status_code == 302
    response = ask(client, "last_name", "Petersen")
    assert response.status_code == 400
    assert "Je hebt al gevraagd dit gegeven te corrigeren" in response.get_data(as_text=True)
    assert [(r.field, r.new_value, r.status) for r in stored()] == [
        ("Member.last_name", "Pietersen", "received"),
        ("Member.first_name", "Anna", "received"),
    ]
    # the database holds it too: one open correction per field
    with pytest.raises(reqs.RequestError):
        reqs.file_request(
            get_state(),
            a.member.id,
            "correction",
            user_id=None,
            field="Member.first_name",
            new_value="Anne",
        )


def test_a_value_that_does_not_fit_the_field_is_refused_when_asked(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    response = ask(client, "last_name", "x" * 121)  # String(120)
    assert response.status_code == 400
    assert "past niet in dit gegeven" in response.get_data(as_text=True)
    response = ask(client, "birth_date", "31-31-2020")
    assert response.status_code == 400
    assert ask(client, "birth_date", "2001-02-03").status_code == 302
    assert stored()[0].new_value == "2001-02-03"


def test_a_date_is_applied_as_a_date(app):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    ask(logged_in(app.test_client(), a), "birth_date", "2001-02-03")
    req = stored()[0]
    assert apply(logged_in(app.test_client(), boss), req.id).status_code == 302
    assert str(member_row(a.member.id).birth_date) == "2001-02-03"


def test_a_correction_cannot_be_marked_done_without_applying_or_rejecting(app):
    a = member_with_login(1, last_name="Jansen")
    boss = make_board(member_with_login(2))
    ask(logged_in(app.test_client(), a), "last_name", "Janssen")
    req = stored()[0]
    board = logged_in(app.test_client(), boss)
    response = board_action(board, req.id, "completed")
    assert "Voer de correctie door, of wijs haar af met een reden." in response.get_data(
        as_text=True
    )
    assert stored()[0].status == "received"
    with pytest.raises(reqs.RequestError):
        reqs.change_status(get_state(), stored()[0], "completed", actor="x")
    # a rejection needs a reason, and leaves the value as it was
    response = board_action(board, req.id, "rejected")
    assert stored()[0].status == "received"
    assert board_action(board, req.id, "rejected", "Staat zo in het paspoort").status_code == 302
    assert stored()[0].status == "rejected"
    assert member_row(a.member.id).last_name == "Jansen"
    # a rejected request cannot be applied afterwards
    assert apply(board, req.id).status_code == 400
    assert member_row(a.member.id).last_name == "Jansen"


def test_applying_a_taken_unique_value_changes_nothing(app):
    a = member_with_login(1)
    b = member_with_login(2)
    boss = make_board(member_with_login(3))
    # member_number is unique and not editable by members
    ask(logged_in(app.test_client(), a), "member_number", b.member.member_number)
    req = stored()[0]
    response = apply(logged_in(app.test_client(), boss), req.id)
    assert response.status_code == 409
    assert "al in gebruik" in response.get_data(as_text=True)
    assert member_row(a.member.id).member_number != b.member.member_number
    assert stored()[0].status == "received"


def test_only_the_board_applies_and_never_without_csrf(app):
    a = member_with_login(1, last_name="Jansen")
    boss = make_board(member_with_login(2))
    member = logged_in(app.test_client(), a)
    ask(member, "last_name", "Janssen")
    req = stored()[0]
    token = csrf_token(member, "/avg/me/requests")
    assert (
        member.post(f"/avg/requests/{req.id}/apply", data={"csrf_token": token}).status_code == 403
    )
    board = logged_in(app.test_client(), boss)
    assert board.post(f"/avg/requests/{req.id}/apply").status_code == 400
    assert member_row(a.member.id).last_name == "Jansen"
    assert board.post("/avg/requests/999999/apply").status_code in (400, 404)


def test_special_category_values_only_for_those_allowed_to_see_them(app):
    from tests.support.acl import client_for, make_users

    users = make_users()  # members 1-4: member, board, administrator, super user
    member = db.session.scalars(select(Member).where(Member.user_id == users["member"].id)).one()
    req = reqs.file_request(
        get_state(),
        member.id,
        "correction",
        user_id=None,
        field="Member.medical_notes",
        new_value="Allergisch voor wespen",
    )
    board = client_for(app, users["board"])  # the board may not see health data by default
    page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    assert "Allergisch voor wespen" not in page and "medisch 1" not in page
    assert "bijzondere persoonsgegevens" in page and "Correctie doorvoeren" not in page
    token = csrf_token(board, f"/avg/requests/{req.id}")
    assert (
        board.post(f"/avg/requests/{req.id}/apply", data={"csrf_token": token}).status_code == 403
    )
    assert member_row(member.id).medical_notes == "medisch 1"
    assert stored()[0].status == "received"
    boss = client_for(app, users["super_user"])
    page = boss.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    assert "Allergisch voor wespen" in page and "medisch 1" in page
    token = csrf_token(boss, f"/avg/requests/{req.id}")
    assert boss.post(f"/avg/requests/{req.id}/apply", data={"csrf_token": token}).status_code == 302
    assert member_row(member.id).medical_notes == "Allergisch voor wespen"
