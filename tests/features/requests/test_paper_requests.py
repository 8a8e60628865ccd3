"""Requests the board records by hand: received on paper, by phone or in person, for any
member found in the member list, with how identity was checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from example_app.models import db
from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from flask_avg.features.requests.service import DataRequest
from tests.support.app import csrf_token
from tests.support.self_service import audit, details, logged_in, make_board, member_with_login
from tests.support.smtp import SmtpServer, smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
URL = "/avg/requests/new"


def stored() -> list[DataRequest]:
    db.session.rollback()
    return list(db.session.scalars(select(DataRequest).order_by(DataRequest.id)))


def record(client, subject: int, token_from: int | None = None, **data):
    token = csrf_token(client, f"{URL}?subject={token_from or subject}")
    form = {
        "csrf_token": token,
        "subject": str(subject),
        "kind": "restriction",
        "channel": "phone",
        "identity_check": "callback",
        "identity_note": "Teruggebeld op 06-nummer uit de administratie",
        **data,
    }
    return client.post(URL, data=form)


def test_board_finds_the_member_and_records_a_phone_request(app):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    board = logged_in(app.test_client(), boss)
    queue = board.get("/avg/requests").get_data(as_text=True)
    assert f'href="{URL}"' in queue
    found = board.get(f"{URL}?q=Voornaam1").get_data(as_text=True)
    assert f'data-subject="{a.member.id}"' in found
    assert f'data-subject="{boss.member.id}"' not in found
    form = board.get(f"{URL}?subject={a.member.id}").get_data(as_text=True)
    assert 'name="identity_note"' in form and "Teruggebeld op het nummer" in form
    with time_machine.travel(T0, tick=False):
        board = logged_in(app.test_client(), boss)
        response = record(board, a.member.id, message="Belde: geen post meer graag")
    assert response.status_code == 302
    req = stored()[0]
    assert (req.subject, req.kind, req.channel, req.identity_check) == (
        str(a.member.id),
        "restriction",
        "phone",
        "callback",
    )
    assert req.identity_note == "Teruggebeld op 06-nummer uit de administratie"
    assert req.user_id is None and req.deadline == T0 + timedelta(days=30)
    assert details(audit("request.received"))[0]["channel"] == "phone"
    board = logged_in(app.test_client(), boss)
    page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    assert "Telefonisch" in page and "Teruggebeld op 06-nummer" in page
    # the member sees it among their own requests
    mine = logged_in(app.test_client(), a).get("/avg/me/requests").get_data(as_text=True)
    assert f'data-request="{req.id}"' in mine


def test_a_letter_received_earlier_counts_from_its_date(app):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    with time_machine.travel(T0, tick=False):
        board = logged_in(app.test_client(), boss)
        response = record(
            board,
            a.member.id,
            kind="correction",
            channel="paper",
            field="last_name",
            value="De Vries",
            identity_check="signature",
            identity_note="Handtekening gelijk aan inschrijfformulier",
            received_on="2026-02-25",
        )
        assert response.status_code == 302
        future = record(board, a.member.id, received_on="2026-03-09")
        assert future.status_code == 400
        assert "niet in de toekomst" in future.get_data(as_text=True)
    req = stored()[0]
    assert req.received_at.date().isoformat() == "2026-02-25"
    assert req.deadline.date().isoformat() == "2026-03-27"
    assert (req.field, req.new_value, req.channel) == ("Member.last_name", "De Vries", "paper")
    assert len(stored()) == 1


def test_identity_check_is_required_and_inputs_are_bounded(app):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    board = logged_in(app.test_client(), boss)
    response = record(board, a.member.id, identity_note="")
    assert response.status_code == 400
    assert "Geef aan hoe je hebt gecontroleerd wie het verzoek doet." in response.get_data(
        as_text=True
    )
    assert record(board, a.member.id, identity_check="account").status_code == 400
    assert record(board, a.member.id, channel="online").status_code == 400
    assert record(board, a.member.id, kind="bogus").status_code == 400
    assert record(board, a.member.id, identity_note="x" * 501).status_code == 400
    assert record(board, 999999, token_from=a.member.id).status_code == 404
    assert stored() == []
    # the service refuses a board channel without a note, or unknown values
    state = get_state()
    with pytest.raises(reqs.RequestError):
        reqs.file_request(state, a.member.id, "restriction", user_id=None, channel="paper")
    with pytest.raises(reqs.RequestError):
        reqs.file_request(state, a.member.id, "restriction", user_id=None, identity_check="guess")


def test_another_engine_passes_an_e_mail_verified_identity(app):
    a = member_with_login(1)
    req = reqs.file_request(
        get_state(), a.member.id, "erasure", user_id=None, identity_check="email_verified"
    )
    assert (req.channel, req.identity_check) == ("online", "email_verified")
    board = logged_in(app.test_client(), make_board(member_with_login(2)))
    page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    assert "Controle over het e-mailadres bevestigd" in page


def test_members_cannot_record_requests(app):
    a = member_with_login(1)
    b = member_with_login(2)
    client = logged_in(app.test_client(), a)
    assert client.get(URL).status_code == 403
    token = csrf_token(client, "/avg/me/requests")
    response = client.post(
        URL,
        data={
            "csrf_token": token,
            "subject": str(b.member.id),
            "kind": "erasure",
            "channel": "paper",
            "identity_check": "other",
            "identity_note": "x",
        },
    )
    assert response.status_code == 403
    assert stored() == []


def test_the_member_is_told_a_paper_request_was_received(app, smtp_server: SmtpServer):
    app.config.update(smtp_server.config)
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    board = logged_in(app.test_client(), boss)
    assert record(board, a.member.id, channel="paper").status_code == 302
    mail = smtp_server.to("m1@example.org")[-1]
    assert "We hebben je verzoek ontvangen" in str(mail["Subject"])
    body = text_of(mail)
    assert "vastgelegd als ontvangen: Op papier (brief of formulier)." in body
    assert "Het bestuur bekijkt het nu." in body
