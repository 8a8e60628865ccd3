"""Art. 12(3): the board extends a request's deadline once, by up to two months, with a
reason, within the first month; the requester is told by mail; the queue shows it."""

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


@pytest.fixture
def mail_app(app, smtp_server: SmtpServer):
    app.config.update(smtp_server.config)
    return app


def only() -> DataRequest:
    db.session.rollback()
    return db.session.scalars(select(DataRequest)).one()


def extend(client, request_id: int, reason: str, days: int | str = 60):
    url = f"/avg/requests/{request_id}"
    token = csrf_token(client, url)
    return client.post(url + "/extend", data={"csrf_token": token, "reason": reason, "days": days})


def test_extended_once_with_the_reason_mailed_and_shown(mail_app, smtp_server):
    member = member_with_login(1)
    boss = make_board(member_with_login(9))
    with time_machine.travel(T0, tick=False):
        req = reqs.file_request(get_state(), member.member.id, "restriction", user_id=None)
    with time_machine.travel(T0 + timedelta(days=10), tick=False):
        board = logged_in(mail_app.test_client(), boss)
        page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
        assert "Termijn verlengen" in page and "avg-extend-form" in page
        response = extend(board, req.id, "Veel verzoeken tegelijk na de fusie", 45)
        assert response.status_code == 302
        done = only()
        assert done.deadline == T0 + timedelta(days=30 + 45)
        assert done.extension_reason == "Veel verzoeken tegelijk na de fusie"
        assert done.extended_at == T0 + timedelta(days=10)
        assert done.status == "received" and done.reason is None
        # the requester is told, with the reason and the new date
        mail = smtp_server.to("m1@example.org")[-1]
        assert "duurt langer" in str(mail["Subject"])
        body = text_of(mail)
        assert "Veel verzoeken tegelijk na de fusie" in body and "16 mei 2026" in body
        # the queue shows the new deadline, marked
        queue = board.get("/avg/requests").get_data(as_text=True)
        row = queue.split(f'data-request="{req.id}"')[1].split("</tr>")[0]
        assert "16-05-2026" in row or "16 mei 2026" in row
        assert "verlengd" in row
        # the member sees it too
        mine = logged_in(mail_app.test_client(), member).get("/avg/me/requests")
        text = mine.get_data(as_text=True)
        assert "16 mei 2026" in text and "Veel verzoeken tegelijk na de fusie" in text

        # not twice
        response = extend(board, req.id, "Nog meer tijd nodig", 10)
        assert response.status_code == 409
        assert "al eerder verlengd" in response.get_data(as_text=True)
        assert only().deadline == T0 + timedelta(days=75)
    with pytest.raises(reqs.ExtensionRefused) as refused:
        reqs.extend(get_state(), only(), actor=None, reason="nog eens")
    assert refused.value.why == "twice"
    assert [d["request"] for d in details(audit("request.extended"))] == [req.id]
    assert len([m for m in smtp_server.to("m1@example.org") if "langer" in str(m["Subject"])]) == 1


def test_not_after_the_first_month(app):
    member = member_with_login(1)
    boss = make_board(member_with_login(9))
    with time_machine.travel(T0, tick=False):
        req = reqs.file_request(get_state(), member.member.id, "erasure", user_id=None)
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        board = logged_in(app.test_client(), boss)
        page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
        assert "avg-extend-form" not in page
        assert "De eerste maand na ontvangst is voorbij" in page
        response = extend(board, req.id, "Te laat bedacht")
        assert response.status_code == 409
        assert "alleen binnen die maand" in response.get_data(as_text=True)
    assert only().deadline == T0 + timedelta(days=30) and only().extended_at is None
    assert audit("request.extended") == []


def test_reason_required_and_at_most_the_configured_days(app):
    member = member_with_login(1)
    boss = make_board(member_with_login(9))
    req = reqs.file_request(get_state(), member.member.id, "restriction", user_id=None)
    board = logged_in(app.test_client(), boss)
    response = extend(board, req.id, "   ")
    assert response.status_code == 400
    assert "Bij een verlenging hoort een reden." in response.get_data(as_text=True)
    response = extend(board, req.id, "Ingewikkeld", 61)
    assert response.status_code == 409
    assert "ten hoogste 60 dagen" in response.get_data(as_text=True)
    assert extend(board, req.id, "Ingewikkeld", "veel").status_code == 400
    assert extend(board, req.id, "Ingewikkeld", 0).status_code == 400
    assert only().extended_at is None
    with pytest.raises(reqs.ExtensionRefused) as refused:
        reqs.extend(get_state(), only(), actor=None, reason="")
    assert refused.value.why == "reason"
    # a closed request is not extended
    reqs.change_status(get_state(), only(), "rejected", actor=None, reason="Geen grond")
    with pytest.raises(reqs.ExtensionRefused) as refused:
        reqs.extend(get_state(), only(), actor=None, reason="Ingewikkeld")
    assert refused.value.why == "closed"


def test_members_cannot_extend(app):
    member = member_with_login(1)
    req = reqs.file_request(get_state(), member.member.id, "restriction", user_id=None)
    client = logged_in(app.test_client(), member)
    token = csrf_token(client, "/avg/me/requests")
    response = client.post(
        f"/avg/requests/{req.id}/extend", data={"csrf_token": token, "reason": "x", "days": 5}
    )
    assert response.status_code == 403
    assert only().extended_at is None
