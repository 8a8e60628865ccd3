"""In Debian's chromium: log in to the example club and reach the member page in Dutch."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_member_logs_in_and_reads_own_data_in_dutch(live_server, page):
    browser_login(page, live_server.url, "lid@example.org")
    page.get_by_role("link", name="je gegevens").click()
    page.wait_for_url(live_server.url + "/avg/me")
    expect(page.get_by_role("heading", name="Mijn gegevens", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Wat we bewaren en waarom")).to_be_visible()
    assert page.locator("[data-field=email]").first.inner_text() == "lid@example.org"
    # Switch to English and back: the pages follow the choice.
    page.get_by_role("link", name="EN", exact=True).click()
    expect(page.get_by_role("heading", name="My data", level=1)).to_be_visible()
    page.get_by_role("link", name="NL", exact=True).click()
    expect(page.get_by_role("heading", name="Mijn gegevens", level=1)).to_be_visible()


def test_member_cannot_open_the_board_member_list(live_server, page):
    browser_login(page, live_server.url, "lid@example.org")
    response = page.goto(live_server.url + "/avg/members")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Geen toegang")).to_be_visible()
