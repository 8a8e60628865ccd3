"""The board's home shows whether the purge runs: last run, next run, and a warning."""

from __future__ import annotations

from datetime import timedelta

from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from tests.support.acl import client_for, make_users


def test_dashboard_warns_until_a_purge_ran_and_then_shows_the_run(app):
    users = make_users()
    client = client_for(app, users["board"])
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert "data-purge-warning" in page and "data-purge-next" in page

    get_state().purge(utcnow().date() + timedelta(days=0))
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert "data-purge-warning" not in page
    assert "data-purge-last" in page


def test_members_do_not_see_the_purge_status(app):
    users = make_users()
    client = client_for(app, users["member"])
    assert "data-purge-last" not in client.get("/avg/dashboard").get_data(as_text=True)
