"""Completing an erasure request with the real erasure engine (``flask_avg.features.retention.service``).

Written against the engine's contract: ``erase_subject(state, subject_id, actor=,
reason=) -> result`` with ``result.removed``, ``result.anonymised`` and
``result.retained``, lists of items with ``.model``, ``.count`` and ``.reason``.
It runs on every database leg.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.features.requests.service import DataRequest
from tests.support.app import csrf_token, login
from tests.support.self_service import (
    PASSWORD,
    audit,
    details,
    logged_in,
    make_board,
    member_with_login,
)


def _request() -> DataRequest:
    db.session.rollback()
    return db.session.scalars(select(DataRequest)).one()


def test_board_completes_erasure_and_the_member_sees_what_happened(app):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    member_id, email = a.member.id, a.user.email
    client = logged_in(app.test_client(), a)
    token = csrf_token(client, "/avg/me/requests")
    response = client.post(
        "/avg/me/requests",
        data={"csrf_token": token, "kind": "erasure", "password": PASSWORD},
    )
    assert response.status_code == 302
    req = _request()

    board = logged_in(app.test_client(), boss)
    # the erasure preview first (the same as the member page's), then the confirmation
    url = f"/avg/requests/{req.id}/erase"
    preview = board.get(url).get_data(as_text=True)
    assert 'data-model="Invoice"' in preview and "data-avg-confirm=" in preview
    assert "Bewaard na het wissen" in preview or "avg-holds" in preview or "Kept" in preview
    assert _request().status == "received"
    token = csrf_token(board, url)
    response = board.post(url, data={"csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    done = _request()
    assert done.status == "completed"
    result = done.result
    assert set(result) == {"removed", "anonymised", "retained"}
    assert sum(i["count"] for part in result.values() for i in part) > 0
    # invoices are kept for the tax authority, with the legal reason
    assert any(i["count"] > 0 for i in result["retained"])
    assert all(i["reason"] for i in result["retained"])
    # no personal values in the summary
    assert email not in done.result_json and "Voornaam1" not in done.result_json
    counts = details(audit("request.completed"))[0]["result"]
    assert counts == {part: sum(i["count"] for i in items) for part, items in result.items()}
    page = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    assert 'data-part="retained"' in page

    # the member's identity is gone and they can no longer log in
    member = db.session.get(Member, member_id)
    assert member is None or member.first_name != "Voornaam1"
    client = app.test_client()
    with pytest.raises(AssertionError):
        login(client, email, PASSWORD)


def test_erasure_closes_the_members_other_open_requests(app):
    """Completing an erasure request closes the member's other open requests (nobody
    can act on them any more) and blanks the member's own words in all of them."""
    from flask_avg.extension import get_state
    from flask_avg.features.requests.service import change_status, file_request

    a = member_with_login(1)
    state = get_state()
    restriction = file_request(state, a.member.id, "restriction", user_id="1", message="Stop")
    erasure = file_request(state, a.member.id, "erasure", user_id="1", message="Weg ermee")
    other = member_with_login(2)
    theirs = file_request(state, other.member.id, "restriction", user_id="2")

    change_status(state, erasure, "completed", actor="board")
    db.session.expire_all()
    assert db.session.get(DataRequest, erasure.id).status == "completed"
    closed = db.session.get(DataRequest, restriction.id)
    assert closed.status == "closed" and closed.open_key is None
    assert closed.message is None and db.session.get(DataRequest, erasure.id).message is None
    assert db.session.get(DataRequest, theirs.id).status == "received"
    assert details(audit("request.closed")) == [
        {"request": restriction.id, "kind": "restriction", "status": "closed"}
    ]


def test_board_erasure_closes_an_open_erasure_request_too(app):
    from flask_avg.extension import get_state
    from flask_avg.features.requests.service import file_request

    a = member_with_login(1)
    state = get_state()
    erasure = file_request(state, a.member.id, "erasure", user_id="1", message="Graag")
    state.erase_subject(a.member.id, reason="board")
    db.session.expire_all()
    req = db.session.get(DataRequest, erasure.id)
    assert req.status == "closed" and req.message is None
    assert not req.is_open


def test_completing_an_erasure_while_a_purge_runs_keeps_the_request_open(app):
    from flask_avg.extension import get_state
    from flask_avg.features.retention.lock import Lock

    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    member_id = a.member.id
    client = logged_in(app.test_client(), a)
    token = csrf_token(client, "/avg/me/requests")
    client.post(
        "/avg/me/requests",
        data={"csrf_token": token, "kind": "erasure", "password": PASSWORD},
    )
    req = _request()
    board = logged_in(app.test_client(), boss)
    url = f"/avg/requests/{req.id}/erase"
    app.config["AVG_ERASE_LOCK_WAIT"] = 0
    token = csrf_token(board, url)
    with Lock(get_state()):
        busy = board.post(url, data={"csrf_token": token, "status": "completed"})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "60"
    assert "Er loopt een opschoning van verlopen gegevens" in busy.get_data(as_text=True)
    still = _request()
    assert still.status == "received" and still.open_key == "open" and still.result_json is None
    assert db.session.get(Member, member_id).first_name == "Voornaam1"
    assert not audit("request.completed") and not audit("subject.erased")

    token = csrf_token(board, url)
    done = board.post(url, data={"csrf_token": token, "status": "completed"})
    assert done.status_code == 302
    assert _request().status == "completed"
    assert db.session.get(Member, member_id).first_name == "anon"
