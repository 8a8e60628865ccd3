"""The audit log in plain language: actions in words, details readable, people by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import insert, select

from example_app.demo import seed
from example_app.models import Member, User, db
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.retention.service import erase_subject
from tests.support.app import login


def _entry(action: str, **values) -> None:
    row = {"outcome": "ok", "action": action, "at": datetime(2026, 3, 4, 12, 30, tzinfo=UTC)}
    row.update(values)
    db.session.execute(insert(AuditEntry), [row])
    db.session.commit()


def _board() -> User:
    return db.session.scalars(select(User).where(User.email == "bestuur@example.org")).one()


def _member(email: str) -> Member:
    return db.session.scalars(select(Member).where(Member.email == email)).one()


@pytest.fixture
def club(app: Flask) -> dict[str, str]:
    seed(n_members=3)
    board = _board()
    member = _member("lid@example.org")
    return {
        "board": str(board.id),
        "board_name": f"{_member('bestuur@example.org').first_name}",
        "member": str(member.id),
        "member_label": f"{member.first_name} {member.last_name} ({member.member_number})",
    }


def _page(client, url: str = "/avg/audit") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_actions_and_details_in_words(club, client):
    _entry(
        "retention.settings",
        actor=club["board"],
        detail_json=json.dumps({"days": {"accounts": 3650, "members": 730}, "erase": {}}),
    )
    _entry("inventory.view", actor=club["board"])
    _entry("members.view", actor=club["board"], subject=club["member"])
    _entry("host.own_thing", actor=club["board"], detail_json=json.dumps({"widgets": 3}))
    _entry("avg.audit.view", outcome="denied", actor=club["member"])
    login(client, "bestuur@example.org")
    page = _page(client)
    assert "Bewaartermijnen gewijzigd" in page
    assert "Inlogaccounts: 3650 dagen" in page and "730 dagen" in page
    assert "days=" not in page and "{&#39;accounts&#39;" not in page
    assert "Overzicht van persoonsgegevens bekeken" in page
    assert "Gegevens van een lid bekeken" in page
    assert "host.own_thing" in page and "Widgets: 3" in page  # unknown codes as they are
    assert "Het auditlogboek inzien" in page  # a permission by its description
    client.get("/avg/lang/en")
    page = _page(client)
    assert "Changed the retention periods" in page and "Login accounts: 3650 days" in page
    assert "Viewed the data of a member" in page


def test_people_by_name_never_by_key(club, client):
    _entry(
        "members.view",
        actor=club["board"],
        subject=club["member"],
        model="Member",
        fields="last_name,email",
    )
    login(client, "bestuur@example.org")
    page = _page(client)
    row = page[page.index('data-action="members.view"') :]
    row = row[: row.index("</tr>")]
    assert club["board_name"] in row and "bestuur@example.org" in row
    assert club["member_label"] in row
    assert "Lid (Achternaam, E-mail)" in row and "last_name" not in row
    assert f"<td>{club['board']}</td>" not in row and f"<td>{club['member']}</td>" not in row


def test_erased_people_and_removed_accounts(club, client):
    erase_subject(get_state(), int(club["member"]))
    db.session.commit()
    _entry("members.view", actor="999999", subject=club["member"])
    login(client, "bestuur@example.org")
    page = _page(client, "/avg/audit?action=members.view")
    assert f"gewist lid #{club['member']}" in page
    assert "verwijderd account #999999" in page
    assert "anon" not in page.split("avg-audit", 1)[1].split("</table>")[0]


def test_filter_by_action_in_words_and_by_member_number(club, client):
    _entry("members.view", actor=club["board"], subject=club["member"])
    _entry("inventory.view", actor=club["board"])
    login(client, "bestuur@example.org")
    page = _page(client)
    assert '<option value="inventory.view">Overzicht van persoonsgegevens bekeken</option>' in page
    only = _page(client, "/avg/audit?action=inventory.view")
    assert only.count('<tr data-action="') == 1
    number = _member("lid@example.org").member_number
    by_number = _page(client, f"/avg/audit?subject={number}")
    assert by_number.count('<tr data-action="members.view"') == 1


@pytest.mark.parametrize(
    "query",
    [
        "page=x",
        "page=99999999",
        "action=%00",
        "subject=" + "9" * 40,
        "from=2026-13-45",
        "to=99999-01-01",
        "actor=@",
        "outcome=maybe",
        "subject=%25",
    ],
)
def test_bad_filters_never_fail(club, client, query):
    login(client, "bestuur@example.org")
    assert client.get(f"/avg/audit?{query}").status_code == 200
