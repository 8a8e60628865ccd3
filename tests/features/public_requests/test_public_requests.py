"""Requests from people without an account: e-mail proof, the same answer for known and
unknown addresses, rate limits, the board's queue, the single-use export download, and
erasure; on every database leg, with time frozen."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import event, select

from example_app.models import db
from flask_avg.extension import get_state
from flask_avg.features.public_requests import service
from flask_avg.features.public_requests.models import PublicRequest
from flask_avg.features.requests.models import DataRequest
from tests.support.app import csrf_token
from tests.support.self_service import audit, logged_in, make_board, member_with_login
from tests.support.smtp import smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
LINK = re.compile(r"https?://club\.test(/avg/ask/(?:verify|download)/\S+)")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mail_app(app, smtp_server, frozen, tmp_path):
    app.config.update(smtp_server.config)
    app.config["AVG_PUBLIC_EXPORT_DIR"] = str(tmp_path / "exports")
    return app


@contextmanager
def statements():
    """Every SQL statement sent while the block runs, with its parameters' shape."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _ask(client, email: str, kind: str = "access", **extra):
    token = csrf_token(client, "/avg/ask")
    return client.post(
        "/avg/ask", data={"csrf_token": token, "email": email, "kind": kind, **extra}
    )


def _link(smtp_server, address: str, n: int = -1) -> str:
    return LINK.search(text_of(smtp_server.to(address)[n])).group(1)


def test_known_and_unknown_addresses_get_the_same_answer_and_work(mail_app, client, smtp_server):
    known = member_with_login(1)
    # the audit chain's lock row is created by the database's first entry: write that one
    # before measuring, or the first address measured pays two statements the other does not
    get_state().audit.record("test.warm_up")
    db.session.commit()
    pages, counts = [], []
    for address in (known.member.email, "nobody@example.org"):
        client.get("/avg/ask")  # the same warm-up before each
        token = csrf_token(client, "/avg/ask")
        before = len(smtp_server.messages)
        with statements() as seen:
            resp = client.post(
                "/avg/ask", data={"csrf_token": token, "email": address, "kind": "erasure"}
            )
        pages.append((resp.status_code, resp.location))
        counts.append((len(seen), len(smtp_server.messages) - before))
        page = client.get(resp.location).get_data(as_text=True)
        assert 'id="avg-public-sent"' in page and address not in page
    assert pages[0] == pages[1] == (302, "/avg/ask/sent")
    assert counts[0] == counts[1] and counts[0][1] == 1
    # nothing about the address was looked up: no statement touches the members' table
    assert all("members" not in s for s in seen)


def test_erasure_request_lands_in_the_queue_marked_email_verified(mail_app, client, smtp_server):
    known = member_with_login(1)
    _ask(client, known.member.email.upper(), "erasure", message="Graag alles weg")
    path = _link(smtp_server, known.member.email.upper())
    page = client.get(path).get_data(as_text=True)
    assert "Bevestig" in page
    assert db.session.scalars(select(DataRequest)).all() == []  # a GET changes nothing
    resp = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert resp.status_code == 200 and 'id="avg-public-confirmed"' in resp.get_data(as_text=True)
    req = db.session.scalars(select(DataRequest)).one()
    assert (req.subject, req.kind, req.user_id) == (str(known.member.id), "erasure", None)
    # once only
    assert client.get(path).status_code == 410
    assert client.post(path, data={"csrf_token": csrf_token(client, "/avg/ask")}).status_code == 410
    # the board sees it, marked
    board = make_board(member_with_login(2))
    board_client = client.application.test_client()
    logged_in(board_client, board)
    page = board_client.get("/avg/public-requests").get_data(as_text=True)
    assert "identiteit: e-mail geverifieerd" in page
    entry = audit("public.verified")[0]
    assert json.loads(entry.detail_json) == {
        "filed": 1,
        "kind": "erasure",
        "matched": 1,
        "request": 1,
    }


def test_unknown_address_files_nothing_and_is_told(mail_app, client, smtp_server):
    member_with_login(1)
    _ask(client, "nobody@example.org", "erasure")
    path = _link(smtp_server, "nobody@example.org")
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert db.session.scalars(select(DataRequest)).all() == []
    assert len(smtp_server.to("nobody@example.org")) == 2
    assert "geen gegevens" in text_of(smtp_server.to("nobody@example.org")[-1])


def test_verification_link_expires(mail_app, client, smtp_server, frozen):
    known = member_with_login(1)
    _ask(client, known.member.email, "erasure")
    path = _link(smtp_server, known.member.email)
    frozen.shift(25 * 3600)
    resp = client.get(path)
    assert resp.status_code == 410 and "verlopen" in resp.get_data(as_text=True)
    assert client.get("/avg/ask/verify/forged").status_code == 410


def test_access_export_downloads_once_then_expires(mail_app, client, smtp_server, frozen):
    known = member_with_login(1)
    _ask(client, known.member.email, "access")
    path = _link(smtp_server, known.member.email)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    mail = smtp_server.to(known.member.email)[-1]
    assert not any(part.get_filename() for part in mail.walk())  # never an attachment
    download = _link(smtp_server, known.member.email)
    assert "/avg/ask/download/" in download
    resp = client.post(download, data={"csrf_token": csrf_token(client, download)})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = json.loads(resp.data)
    assert known.member.email in json.dumps(data)
    assert "medisch" not in json.dumps(data)  # special categories wait for the board
    assert client.get(download).status_code == 410  # once
    assert list(Path(mail_app.config["AVG_PUBLIC_EXPORT_DIR"]).iterdir()) == []

    # a second request's link expires unused
    _ask(client, known.member.email, "access")
    path = _link(smtp_server, known.member.email)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    download = _link(smtp_server, known.member.email)
    frozen.shift((72 + 1) * 3600)
    assert client.get(download).status_code == 410


def test_rate_limits_per_address_and_per_client(mail_app, client, smtp_server):
    for _ in range(3):
        assert _ask(client, "a@example.org").status_code == 302
    resp = _ask(client, "a@example.org")
    assert resp.status_code == 429 and "Te veel" in resp.get_data(as_text=True)
    assert len(smtp_server.to("a@example.org")) == 3
    mail_app.config["AVG_PUBLIC_CLIENT_LIMIT"] = 5
    assert _ask(client, "b@example.org").status_code == 302
    assert _ask(client, "c@example.org").status_code == 302
    assert _ask(client, "d@example.org").status_code == 429  # the client's sixth
    assert audit("public.request", "denied")


def test_erased_subjects_links_stop_working(mail_app, client, smtp_server):
    known = member_with_login(1)
    _ask(client, known.member.email, "access")
    path = _link(smtp_server, known.member.email)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    download = _link(smtp_server, known.member.email)
    # and a pending verification
    _ask(client, known.member.email, "erasure")
    pending = _link(smtp_server, known.member.email)
    get_state().erase_subject(known.member.id, reason="board")
    assert client.get(download).status_code == 410
    client.post(pending, data={"csrf_token": csrf_token(client, pending)})
    # the verification finds nobody: no request is filed for the erased member
    assert db.session.scalars(select(DataRequest)).all() == []
    assert db.session.scalars(select(PublicRequest.subjects)).all() == [None]


def test_board_asks_for_more_proof(mail_app, client, smtp_server):
    known = member_with_login(1)
    _ask(client, known.member.email, "correction", field="Member.iban")
    path = _link(smtp_server, known.member.email)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    board = make_board(member_with_login(2))
    board_client = client.application.test_client()
    logged_in(board_client, board)
    row = db.session.scalars(select(PublicRequest)).one()
    resp = board_client.post(
        f"/avg/public-requests/{row.id}/proof",
        data={
            "csrf_token": csrf_token(board_client, "/avg/public-requests"),
            "note": "Een kopie van je ledenpas",
        },
    )
    assert resp.status_code == 302
    mail = text_of(smtp_server.to(known.member.email)[-1])
    assert "Een kopie van je ledenpas" in mail
    assert db.session.scalars(select(PublicRequest.status)).one() == "proof_asked"
    assert service.KINDS


def test_purge_drops_stale_verifications_and_expired_files(mail_app, client, smtp_server, frozen):
    known = member_with_login(1)
    _ask(client, known.member.email, "access")
    path = _link(smtp_server, known.member.email)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    _ask(client, "nobody@example.org", "erasure")  # never confirmed
    exports = Path(mail_app.config["AVG_PUBLIC_EXPORT_DIR"])
    assert len(list(exports.iterdir())) == 1
    frozen.shift(73 * 3600)
    get_state().purge()
    db.session.expire_all()
    rows = db.session.scalars(select(PublicRequest)).all()
    assert [(r.kind, r.email, r.download_file) for r in rows] == [("access", None, None)]
    assert list(exports.iterdir()) == []
