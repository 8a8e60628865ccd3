"""The board's mail about a breach clock past 48 of its 72 hours, through a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from example_app.models import db
from flask_avg.features.breaches.models import Breach
from tests.support.self_service import make_board, member_with_login
from tests.support.smtp import SmtpServer, smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name

FOUND = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
BOARD = "m9@example.org"


@pytest.fixture
def mail_app(app, smtp_server: SmtpServer):
    app.config.update(smtp_server.config)
    return app


def run(app) -> str:
    result = app.test_cli_runner().invoke(args=["avg", "notify-overdue"])
    assert result.exit_code == 0, result.output
    return result.output


def test_board_is_warned_once_when_the_clock_passes_48_hours(mail_app, smtp_server):
    make_board(member_with_login(9))
    db.session.add(Breach(title="Laptop kwijt", discovered_at=FOUND))
    db.session.add(Breach(title="Al gemeld", discovered_at=FOUND, ap_notified_at=FOUND))
    db.session.commit()
    with time_machine.travel(FOUND + timedelta(hours=47), tick=False):
        assert run(mail_app) == "0 notification(s) sent\n"
    with time_machine.travel(FOUND + timedelta(hours=49), tick=False):
        assert run(mail_app) == "1 notification(s) sent\n"
    with time_machine.travel(FOUND + timedelta(hours=60), tick=False):
        assert run(mail_app) == "0 notification(s) sent\n"
    mails = smtp_server.to(BOARD)
    assert len(mails) == 1
    assert " ".join(str(mails[0]["Subject"]).split()) == (
        "Datalek: nog minder dan 24 uur om de toezichthouder te melden"
    )
    body = text_of(mails[0])
    assert "Laptop kwijt" in body and "Al gemeld" not in body
    assert "72 uur" in body


def test_breach_mail_goes_to_those_who_manage_breaches(mail_app, smtp_server):
    # a plain member is not told; nobody allowed: the mail goes to the log, never fails
    member_with_login(1)
    db.session.add(Breach(title="Laptop kwijt", discovered_at=FOUND))
    db.session.commit()
    with time_machine.travel(FOUND + timedelta(hours=50), tick=False):
        assert run(mail_app) == "1 notification(s) sent\n"
    assert smtp_server.messages == []
