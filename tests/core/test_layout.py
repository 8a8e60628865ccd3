"""The layout every flask-avg page shares: grouped menu, current page, overdue badge,
skip link, page language, the confirmation script, and errors as pages inside it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Blueprint

from example_app.models import db
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from tests.support.self_service import logged_in, make_board, member_with_login


def _nav(html: str) -> str:
    return html[html.index('<nav class="avg-nav"') : html.index("</nav>")]


def test_the_board_sees_the_menu_in_groups_with_the_current_page_marked(app, client):
    board = make_board(member_with_login(1))
    html = logged_in(client, board).get("/avg/requests").get_data(as_text=True)
    nav = _nav(html)
    labels = re.findall(r'class="avg-nav-label"[^>]*>([^<]+)<', nav)
    assert labels == ["Leden", "Verzoeken", "Bewaartermijnen", "Verantwoording"]
    assert nav.count('aria-current="page"') == 1
    assert re.search(r'href="/avg/requests" aria-current="page">Privacyverzoeken', nav)
    # the menu folds on phones without any script: a <details> element
    assert '<details class="avg-menu">' in nav and "<summary>Menu</summary>" in nav
    # the members link sits in the Members group
    members = nav[nav.index('id="avg-nav-members"') : nav.index('id="avg-nav-requests"')]
    assert 'href="/avg/members"' in members


def test_a_member_sees_no_board_groups(app, client):
    member = member_with_login(1)
    nav = _nav(logged_in(client, member).get("/avg/me").get_data(as_text=True))
    assert "avg-nav-label" not in nav
    assert re.search(r'href="/avg/me" aria-current="page"', nav)


def test_the_overdue_badge_counts_overdue_requests_for_those_who_handle_them(app, client):
    member = member_with_login(1)
    state = get_state()
    late = reqs.file_request(state, member.member.id, "restriction", user_id=None)
    late.deadline = utcnow() - timedelta(days=1)
    reqs.file_request(state, member.member.id, "erasure", user_id=None)  # not yet due
    db.session.commit()
    board = make_board(member_with_login(2))
    nav = _nav(logged_in(client, board).get("/avg/dashboard").get_data(as_text=True))
    assert re.search(
        r'Privacyverzoeken <span class="avg-badge avg-badge--warn">1<span class="avg-visually-hidden"> te laat',
        nav,
    )
    # a member (no avg.requests.handle) gets no badge and no count query
    other = app.test_client()
    nav = _nav(logged_in(other, member).get("/avg/me").get_data(as_text=True))
    assert "avg-badge" not in nav


def test_the_page_language_and_skip_link_follow_the_chosen_language(app, client):
    member = member_with_login(1)
    logged_in(client, member)
    html = client.get("/avg/me").get_data(as_text=True)
    assert '<html lang="nl">' in html
    assert '<a class="avg-skip" href="#avg-main">Naar de inhoud</a>' in html
    assert 'id="avg-main"' in html
    assert '<script src="/avg/static/avg.js" defer></script>' in html
    client.get("/avg/lang/en?next=/avg/me")
    html = client.get("/avg/me").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Skip to content" in html


def test_the_confirmation_script_is_served_and_allowed_by_the_pages_policy(app, client):
    response = client.get("/avg/static/avg.js")
    assert response.status_code == 200
    assert "data-avg-confirm" in response.get_data(as_text=True)
    response.close()
    policy = client.get("/avg/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy


def test_an_unknown_flask_avg_url_is_a_404_page_inside_the_layout(app, client):
    logged_in(client, member_with_login(1))
    response = client.get("/avg/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1>Pagina niet gevonden</h1>" in html and 'class="avg-nav"' in html
    assert "Content-Security-Policy" in response.headers


def test_a_missing_record_is_a_404_page_inside_the_layout(app, client):
    logged_in(client, make_board(member_with_login(1)))
    response = client.get("/avg/requests/999999")
    assert response.status_code == 404
    assert "<h1>Pagina niet gevonden</h1>" in response.get_data(as_text=True)


def test_a_wrong_method_is_a_405_page_with_its_allow_header(app, client):
    logged_in(client, member_with_login(1))
    response = client.put("/avg/me")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
    assert 'class="avg-nav"' in response.get_data(as_text=True)


def test_the_hosts_own_pages_keep_the_hosts_error_handling(app, client):
    response = client.get("/no-such-host-page")
    assert response.status_code == 404
    assert 'class="avg-nav"' not in response.get_data(as_text=True)


@pytest.fixture
def failing_page(app):
    """A flask-avg page that fails, registered the way a feature's pages are."""
    from flask_avg.core.web import make_blueprint

    bp: Blueprint = make_blueprint("boom", __name__)

    def boom() -> str:
        raise RuntimeError("secret detail")

    bp.add_url_rule("/boom", endpoint="boom", view_func=boom)
    app.register_blueprint(bp, url_prefix="/avg")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_a_server_error_is_a_500_page_inside_the_layout(failing_page, caplog):
    client = failing_page.test_client()
    logged_in(client, member_with_login(1))
    response = client.get("/avg/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "<h1>Er ging iets mis</h1>" in html and 'class="avg-nav"' in html
    assert "secret detail" not in html
