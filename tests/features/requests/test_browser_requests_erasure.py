"""In chromium, with the real erasure engine: the board completes an erasure; the member can no longer log in.

The member files the request, the board completes it through the erasure engine.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.features.self_service.test_browser_self_service import logout, member_files_erasure
from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_board_completes_erasure_and_member_cannot_log_in(live_server, page):
    base = live_server.url
    member_files_erasure(page, base)

    browser_login(page, base, "bestuur@example.org")
    page.goto(base + "/avg/requests")
    page.locator("table.avg-request-queue tbody tr a").first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Privacyverzoek")
    # never one click: the erasure preview, then a confirmed danger button
    page.get_by_role("link", name="Wissen vooraf bekijken").click()
    expect(page.locator("table.avg-erase-preview")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Dit lid nu wissen").click()
    expect(page.get_by_text("Het verzoek is nu: Afgehandeld")).to_be_visible()
    # what was removed, anonymised and retained, with the legal reason for what is kept
    expect(page.locator("table.avg-erasure-result")).to_be_visible()
    retained = page.locator("table.avg-erasure-result tr[data-part=retained]")
    assert retained.count() >= 1
    logout(page)

    page.goto(base + "/login")
    page.get_by_label("E-mail").fill("lid@example.org")
    page.get_by_label("Wachtwoord").fill("avg-demo")
    page.get_by_role("button", name="Inloggen").click()
    expect(page.get_by_text("Onbekend e-mailadres of verkeerd wachtwoord.")).to_be_visible()
    assert page.url.startswith(base + "/login")
