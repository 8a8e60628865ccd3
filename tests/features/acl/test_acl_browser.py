"""In Debian's chromium: the administrator denies an action for Members, and a member loses it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_administrator_denies_members_their_data_page(live_server, browser, page):
    member_context = browser.new_context(locale="nl-NL")
    member = member_context.new_page()
    member.set_default_timeout(10_000)
    try:
        browser_login(member, live_server.url, "lid@example.org")
        assert member.goto(live_server.url + "/avg/me").status == 200

        browser_login(page, live_server.url, "admin@example.org")
        page.goto(live_server.url + "/avg/")
        page.get_by_role("link", name="Toegangsrechten").first.click()
        page.wait_for_url(live_server.url + "/avg/acl")
        page.get_by_role("link", name="Lid", exact=True).click()
        expect(page.get_by_role("heading", name="Groep Lid", level=1)).to_be_visible()
        row = page.locator('tr[data-action="avg.self.view"]')
        assert row.locator("td[data-result]").get_attribute("data-result") == "allowed"
        page.locator('select[name="rule-avg.self.view"]').select_option("deny")
        page.get_by_role("button", name="Rechten opslaan").click()
        expect(page.get_by_role("status").filter(has_text="Rechten opgeslagen")).to_be_visible()
        assert row.locator("td[data-result]").get_attribute("data-result") == "denied"
        assert "Hier geweigerd" in row.inner_text()

        response = member.goto(live_server.url + "/avg/me")
        assert response.status == 403
        expect(member.get_by_role("heading", name="Geen toegang")).to_be_visible()
    finally:
        member_context.close()


def test_the_board_cannot_open_the_permission_matrix(live_server, page):
    browser_login(page, live_server.url, "bestuur@example.org")
    response = page.goto(live_server.url + "/avg/acl")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Geen toegang")).to_be_visible()
