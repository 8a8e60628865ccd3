"""In chromium: a member asks to correct their surname; the board sees the current and the
requested value and applies it; the member sees the new value and the request completed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.features.self_service.test_browser_self_service import logout
from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_member_asks_a_correction_and_the_board_applies_it(live_server, page):
    base = live_server.url
    browser_login(page, base, "lid@example.org")
    page.goto(base + "/avg/me/requests")
    section = page.locator("#avg-new-correction")
    section.get_by_label("Veld").select_option("last_name")
    section.get_by_label("Wat moet het zijn?").fill("Van der Berg-Janssen")
    section.get_by_role("button").click()
    page.wait_for_url(base + "/avg/me/requests")
    received = page.locator("table.avg-my-requests tr[data-status=received]").first
    assert "Van der Berg-Janssen" in received.inner_text()
    assert "Het bestuur bekijkt je verzoek" in received.inner_text()
    logout(page)

    browser_login(page, base, "bestuur@example.org")
    page.goto(base + "/avg/requests")
    page.locator("table.avg-request-queue tbody tr a").first.click()
    assert "Achternaam" in page.locator("dl.avg-fields").inner_text()
    assert page.locator("dd.avg-requested-value").inner_text() == "Van der Berg-Janssen"
    assert page.locator("dd.avg-current-value").inner_text() != "Van der Berg-Janssen"
    page.get_by_role("button", name="Correctie doorvoeren").click()
    expect(page.get_by_text("De correctie is doorgevoerd")).to_be_visible()
    logout(page)

    browser_login(page, base, "lid@example.org")
    page.goto(base + "/avg/me")
    # /avg/me shows the member's own data as cards: label and value in a <dl>
    assert page.locator("dd[data-field=last_name]").first.inner_text() == "Van der Berg-Janssen"
    page.goto(base + "/avg/me/requests")
    done = page.locator("table.avg-my-requests tr[data-status=completed]").first
    assert "Klaar: je hoeft niets meer te doen." in done.inner_text()
