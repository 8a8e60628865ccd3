"""Request notifications through a real SMTP server: who gets what, in which language,
once, and the erased member's last mail (also when the server is down)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import select

from example_app.models import User, db
from flask_avg.core import mail as kernel_mail
from flask_avg.core.models import AuditEntry, AvgBase
from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from flask_avg.features.requests.service import DataRequest
from tests.support.app import csrf_token
from tests.support.self_service import PASSWORD, logged_in, make_board, member_with_login
from tests.support.smtp import SmtpServer, smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name

BOARD = "m9@example.org"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def mail_app(app, smtp_server: SmtpServer):
    app.config.update(smtp_server.config)
    return app


def file(client, kind: str, **data):
    token = csrf_token(client, "/avg/me/requests")
    return client.post("/avg/me/requests", data={"csrf_token": token, "kind": kind, **data})


def board_action(client, request_id: int, status: str, reason: str = ""):
    url = f"/avg/requests/{request_id}"
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token, "status": status, "reason": reason})


def only_request() -> DataRequest:
    db.session.rollback()
    return db.session.scalars(select(DataRequest)).one()


def subject(message) -> str:
    return " ".join(str(message["Subject"]).split())  # long subjects arrive folded


def subjects(server: SmtpServer, address: str) -> list[str]:
    return [subject(m) for m in server.to(address)]


def test_member_and_board_hear_of_a_new_request_and_each_decision(mail_app, smtp_server):
    member = member_with_login(1)
    boss = make_board(member_with_login(9))
    assert file(logged_in(mail_app.test_client(), member), "restriction").status_code == 302
    assert subjects(smtp_server, "m1@example.org") == [
        "We hebben je verzoek ontvangen: Beperking van de verwerking"
    ]
    assert subjects(smtp_server, BOARD) == [
        "Er is een nieuw privacyverzoek binnengekomen: Beperking van de verwerking"
    ]
    received = smtp_server.to("m1@example.org")[0]
    assert received["From"] == "privacy@club.test"
    assert received["Content-Language"] == "nl"
    # the board's mail never names the member
    assert "Voornaam1" not in text_of(smtp_server.to(BOARD)[0])

    req = only_request()
    reqs.extend(get_state(), req, actor=str(boss.user.id), reason="Veel verzoeken tegelijk")
    extended = smtp_server.to("m1@example.org")[-1]
    assert "duurt langer" in subject(extended)
    assert "Veel verzoeken tegelijk" in text_of(extended)
    assert only_request().deadline == req.received_at + timedelta(days=30 + 60)
    with pytest.raises(reqs.RequestError):  # once only
        reqs.extend(get_state(), only_request(), actor=None, reason="nog eens")

    board = logged_in(mail_app.test_client(), boss)
    assert board_action(board, req.id, "rejected", "Geen grond gevonden").status_code == 302
    rejected = smtp_server.to("m1@example.org")[-1]
    assert subject(rejected) == "Je verzoek is afgewezen: Beperking van de verwerking"
    assert "Geen grond gevonden" in text_of(rejected)
    assert "Autoriteit Persoonsgegevens" in text_of(rejected)
    # the board's own decisions do not come back to it
    assert len(smtp_server.to(BOARD)) == 1
    assert len(smtp_server.messages) == 4


def test_the_member_reads_their_mails_in_their_stored_language(mail_app, smtp_server, monkeypatch):
    # a host whose users keep a language: English for this one
    monkeypatch.setattr(User, "locale", "en", raising=False)
    member = member_with_login(1)
    boss = make_board(member_with_login(9))
    file(logged_in(mail_app.test_client(), member), "restriction")
    req = only_request()
    board_action(logged_in(mail_app.test_client(), boss), req.id, "completed")
    assert subjects(smtp_server, "m1@example.org") == [
        "We received your request: Restriction of processing",
        "Your request has been completed: Restriction of processing",
    ]
    assert smtp_server.to("m1@example.org")[0]["Content-Language"] == "en"
    # the board has no stored language here: the club's default, Dutch
    assert subjects(smtp_server, BOARD) == [
        "Er is een nieuw privacyverzoek binnengekomen: Beperking van de verwerking"
    ]


def test_overdue_requests_reach_the_board_once(mail_app, smtp_server):
    member = member_with_login(1)
    make_board(member_with_login(9))
    with time_machine.travel(T0, tick=False):
        file(logged_in(mail_app.test_client(), member), "restriction")
    runner = mail_app.test_cli_runner()
    with time_machine.travel(T0 + timedelta(days=29), tick=False):
        assert runner.invoke(args=["avg", "notify-overdue"]).output == "0 notification(s) sent\n"
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        result = runner.invoke(args=["avg", "notify-overdue"])
        assert result.exit_code == 0, result.output
        assert result.output == "1 notification(s) sent\n"
        # the daily purge runs the same check: nothing new to say
        get_state().purge()
        assert runner.invoke(args=["avg", "notify-overdue"]).output == "0 notification(s) sent\n"
    overdue = [s for s in subjects(smtp_server, BOARD) if "te laat" in s]
    assert overdue == ["Privacyverzoek te laat: Beperking van de verwerking"]
    sent = db.session.scalars(select(kernel_mail.Notice)).all()
    assert [(n.topic, n.ref, n.event) for n in sent] == [
        ("request", str(only_request().id), "overdue")
    ]


def test_the_daily_purge_finds_overdue_requests(mail_app, smtp_server):
    member = member_with_login(1)
    make_board(member_with_login(9))
    with time_machine.travel(T0, tick=False):
        file(logged_in(mail_app.test_client(), member), "restriction")
    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        get_state().purge()
        get_state().purge()
    assert [s for s in subjects(smtp_server, BOARD) if "te laat" in s] == [
        "Privacyverzoek te laat: Beperking van de verwerking"
    ]


def test_board_email_setting_replaces_the_group(mail_app, smtp_server):
    mail_app.config["AVG_BOARD_EMAIL"] = "bestuur@club.test"
    make_board(member_with_login(9))
    file(logged_in(mail_app.test_client(), member_with_login(1)), "restriction")
    assert len(smtp_server.to("bestuur@club.test")) == 1
    assert smtp_server.to(BOARD) == []


def personal_text_left(address: str) -> list[str]:
    """Every table and column that still holds ``address``."""
    db.session.rollback()
    found = []
    for table in [*db.metadata.sorted_tables, *AvgBase.metadata.sorted_tables]:
        for row in db.session.execute(sa.select(table)).mappings():
            for column, value in row.items():
                if isinstance(value, str) and address in value:
                    found.append(f"{table.name}.{column}")
    return found


def test_erasure_request_ends_with_a_last_mail_and_no_address_left(mail_app, smtp_server):
    member = member_with_login(1)
    boss = make_board(member_with_login(9))
    file(logged_in(mail_app.test_client(), member), "erasure", password=PASSWORD)
    req = only_request()
    assert personal_text_left("m1@example.org")
    board = logged_in(mail_app.test_client(), boss)
    url = f"/avg/requests/{req.id}/erase"
    assert board.post(url, data={"csrf_token": csrf_token(board, url)}).status_code == 302
    last = smtp_server.to("m1@example.org")[-1]
    assert subject(last) == "Je verzoek is afgehandeld: Verwijdering van mijn gegevens"
    body = text_of(last)
    assert "laatste bericht" in body
    # what was kept, with the reason (the club's invoices, a legal duty)
    assert "Bewaard: Facturen" in body or "Bewaard: Factuur" in body or "Bewaard:" in body
    retained = only_request().result["retained"]
    assert retained and all(item["reason"] for item in retained)
    for item in retained:
        assert str(item["reason"]) in body
    assert personal_text_left("m1@example.org") == []


def test_the_boards_erase_button_sends_the_last_mail_with_what_is_kept(mail_app, smtp_server):
    member = member_with_login(1)
    result = get_state().erase_subject(member.member.id, actor="9", reason="board")
    last = smtp_server.to("m1@example.org")
    assert len(last) == 1
    assert subject(last[0]) == "Je gegevens zijn gewist"
    body = text_of(last[0])
    assert result.retained
    assert "Bewaard, en waarom:" in body
    for item in result.retained:
        assert item.reason in body
    html = last[0].get_body(preferencelist=("html",))
    assert html is not None and "<li>" in html.get_content()
    assert personal_text_left("m1@example.org") == []


def test_smtp_down_the_erasure_still_happens_and_the_failure_is_recorded(mail_app, smtp_server):
    member = member_with_login(1)
    member_id = member.member.id
    smtp_server.stop()
    mail_app.logger.disabled = True  # the warning is expected
    try:
        result = get_state().erase_subject(member_id, actor="9", reason="board")
    finally:
        mail_app.logger.disabled = False
    assert result.anonymised or result.removed
    assert get_state().is_erased("Member", member_id, fresh=True)
    failed = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "mail.failed")).one()
    assert failed.outcome == "error" and failed.subject == str(member_id)
    assert "m1@example.org" not in (failed.detail_json or "")
    assert personal_text_left("m1@example.org") == []


def test_a_host_template_overrides_the_text(mail_app, smtp_server, tmp_path):
    # the host's own templates folder, at the same path as flask-avg's file
    own = tmp_path / "avg" / "mail" / "request_received_member.txt"
    own.parent.mkdir(parents=True)
    own.write_text("Bedankt voor je verzoek\n\nDe ledenadministratie: {{ req.kind_label }}.\n")
    host_folder = mail_app.jinja_loader  # the example club's own templates, first
    mail_app.__dict__["jinja_loader"] = ChoiceLoader([FileSystemLoader(tmp_path), host_folder])
    file(logged_in(mail_app.test_client(), member_with_login(1)), "restriction")
    mail = smtp_server.to("m1@example.org")[0]
    assert subject(mail) == "Bedankt voor je verzoek"
    assert text_of(mail).strip() == "De ledenadministratie: Beperking van de verwerking."


def test_a_host_mail_sender_still_wins(mail_app, smtp_server, monkeypatch):
    from example_app import avg

    seen: list[kernel_mail.Mail] = []
    monkeypatch.setattr(avg, "_mail_sender", None)
    avg.mail_sender(seen.append)
    make_board(member_with_login(9))
    file(logged_in(mail_app.test_client(), member_with_login(1)), "restriction")
    assert smtp_server.messages == []
    assert [(m.to, m.recipients) for m in seen] == [
        ("member", ["m1@example.org"]),
        ("board", [BOARD]),
    ]
