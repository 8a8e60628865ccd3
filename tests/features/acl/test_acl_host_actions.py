"""Host actions: registered with ``AVG.register_action``, guarded with ``@require``, in the matrix."""

from __future__ import annotations

import pytest

from example_app import avg
from flask_avg import require
from tests.support.acl import client_for, group, make_users
from tests.support.app import csrf_token


@pytest.fixture
def events_app(app):
    avg.register_action("club.events.manage", "Manage club events")

    @app.route("/events/manage")
    @require("club.events.manage")
    def manage_events():
        return "events"

    yield app
    avg._actions.pop("club.events.manage", None)


def test_register_action_needs_a_namespace():
    with pytest.raises(ValueError, match="namespaced"):
        avg.register_action("events", "Events")


def test_host_action_is_in_the_matrix_and_guards_the_host_view(events_app):
    users = make_users()
    board = client_for(events_app, users["board"])
    assert board.get("/events/manage").status_code == 403

    admin = client_for(events_app, users["administrator"])
    page = admin.get(f"/avg/acl/groups/{group('board').id}").get_data(as_text=True)
    assert 'data-action="club.events.manage"' in page and "Manage club events" in page

    token = csrf_token(admin, "/avg/acl")
    admin.post(
        f"/avg/acl/groups/{group('board').id}/rules",
        data={"csrf_token": token, "rule-club.events.manage": "allow"},
    )
    response = board.get("/events/manage")
    assert response.status_code == 200 and response.get_data(as_text=True) == "events"
    # Members stay out; the template test agrees with the decorator.
    member = client_for(events_app, users["member"])
    assert member.get("/events/manage").status_code == 403


def test_unknown_actions_are_a_programming_error(app):
    state = app.extensions["avg"]
    with app.test_request_context(), pytest.raises(KeyError, match="register it first"):
        state.can("club.unknown.thing")
