"""Need to know: special-category columns only for users allowed ``avg.special.view``.

Wherever flask-avg shows one member's data to someone else (the member list,
one member's page) the health column is left out unless the viewer's groups
allow ``avg.special.view``; the member themself always sees it (Art. 15).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.features.acl.admin import set_rules
from tests.support.acl import client_for, group, make_users


@pytest.fixture
def users(app):
    return make_users()


def member_two_id():
    db.session.rollback()
    found = db.session.scalars(select(Member).where(Member.email == "m2@example.org")).one().id
    db.session.rollback()
    return found


def allow_special_for(app, key):
    state = app.extensions["avg"]
    set_rules(state, group(key), {"avg.special.view": True})


def test_board_sees_no_health_data_by_default(app, users):
    client = client_for(app, users["board"])
    listing = client.get("/avg/members").get_data(as_text=True)
    assert "Voornaam2" in listing  # the list itself works ...
    assert "medisch" not in listing  # ... without the health column
    assert "Voornaam2" not in client.get("/avg/members?q=medisch").get_data(as_text=True)
    page = client.get(f"/avg/members/{member_two_id()}").get_data(as_text=True)
    assert "Voornaam2" in page
    assert 'data-field="medical_notes"' not in page and "medisch" not in page


def test_administrator_without_the_action_sees_none_either(app, users):
    client = client_for(app, users["administrator"])
    assert "medisch" not in client.get("/avg/members").get_data(as_text=True)
    assert "medisch" not in client.get(f"/avg/members/{member_two_id()}").get_data(as_text=True)


def test_allowed_group_sees_the_column_in_list_and_member_page(app, users):
    allow_special_for(app, "board")
    client = client_for(app, users["board"])
    # the list shows names; a search reaches the health column only when allowed
    listing = client.get("/avg/members?q=medisch").get_data(as_text=True)
    assert "Voornaam2" in listing and "Voornaam1" in listing
    page = client.get(f"/avg/members/{member_two_id()}").get_data(as_text=True)
    assert 'data-field="medical_notes"' in page and "medisch 2" in page


def test_a_deny_below_keeps_it_hidden(app, users):
    """Allowed for Board, denied for Administrator: administrators do not see it."""
    allow_special_for(app, "board")
    state = app.extensions["avg"]
    set_rules(state, group("administrator"), {"avg.special.view": False})
    admin = client_for(app, users["administrator"])
    assert "Voornaam2" not in admin.get("/avg/members?q=medisch").get_data(as_text=True)
    board = client_for(app, users["board"])
    assert "Voornaam2" in board.get("/avg/members?q=medisch").get_data(as_text=True)


def test_super_user_sees_everything(app, users):
    client = client_for(app, users["super_user"])
    assert "Voornaam2" in client.get("/avg/members?q=medisch").get_data(as_text=True)
    page = client.get(f"/avg/members/{member_two_id()}").get_data(as_text=True)
    assert "medisch 2" in page


def test_a_member_always_sees_their_own_health_data(app, users):
    client = client_for(app, users["member"])
    page = client.get("/avg/me").get_data(as_text=True)
    assert "medisch 1" in page
    assert client.get("/avg/members").status_code == 403
