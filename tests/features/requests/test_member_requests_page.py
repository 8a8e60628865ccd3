"""What the member sees of their requests: received, the Art. 12(3) deadline, the status
and what happens next, in words, in Dutch and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from tests.support.self_service import logged_in, member_with_login

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(page: str, request_id: int) -> str:
    return page.split(f'data-request="{request_id}"')[1].split("</tr>")[0]


def test_each_request_shows_its_dates_status_and_next_step(app):
    a = member_with_login(1)
    state = get_state()
    with time_machine.travel(T0, tick=False):
        waiting = reqs.file_request(state, a.member.id, "restriction", user_id=None)
        refused = reqs.file_request(
            state, a.member.id, "correction", user_id=None, field="Member.last_name", new_value="X"
        )
        reqs.change_status(state, refused, "rejected", actor=None, reason="Klopt al")
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        client = logged_in(app.test_client(), a)
        page = client.get("/avg/me/requests").get_data(as_text=True)
        first = row(page, waiting.id)
        assert "2 maart 2026" in first and "1 april 2026" in first
        assert "Ontvangen" in first
        assert "Het bestuur bekijkt je verzoek en antwoordt uiterlijk op 1 april 2026." in first
        second = row(page, refused.id)
        assert "Achternaam" in second and "Reden: Klopt al" in second
        assert "Afgewezen, met de genoemde reden." in second
        client.get("/avg/lang/en")
        page = client.get("/avg/me/requests").get_data(as_text=True)
        first = row(page, waiting.id)
        assert "April 1, 2026" in first
        assert "The board will look at your request and answer by April 1, 2026" in first
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        client = logged_in(app.test_client(), a)
        page = client.get("/avg/me/requests").get_data(as_text=True)
        assert "We zijn te laat: de termijn is verstreken." in row(page, waiting.id)
