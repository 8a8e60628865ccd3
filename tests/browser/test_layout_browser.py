"""The layout in Debian's chromium: the menu folds on a phone, opens by itself on a
desktop, and a form with data-avg-confirm asks before it is sent."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_the_menu_is_folded_on_a_phone_and_open_on_a_desktop(live_server, page):
    browser_login(page, live_server.url, "bestuur@example.org")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(live_server.url + "/avg/requests")
    menu = page.get_by_role("navigation", name="Privacymenu")
    dashboard = menu.get_by_role("link", name="Dashboard")
    expect(dashboard).to_be_hidden()
    menu.get_by_text("Menu", exact=True).click()
    expect(dashboard).to_be_visible()
    current = menu.locator('[aria-current="page"]')
    assert current.inner_text() == "Privacyverzoeken"
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + "/avg/requests")
    expect(menu.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(menu.get_by_text("Menu", exact=True)).to_be_hidden()


def test_a_form_with_a_confirmation_question_asks_first(live_server, page):
    browser_login(page, live_server.url, "lid@example.org")
    page.goto(live_server.url + "/avg/me")
    page.evaluate(
        """() => {
        const form = document.createElement("form");
        form.method = "post";
        form.dataset.avgConfirm = "Echt wissen?";
        form.innerHTML = '<button type="submit" class="avg-btn avg-btn--danger">Wissen</button>';
        document.querySelector("#avg-main").append(form);
    }"""
    )
    # after avg.js: records a submission that went through (and keeps the page here)
    page.evaluate(
        """() => document.addEventListener("submit", (event) => {
            window.avgSent = (window.avgSent || 0) + 1;
            event.preventDefault();
        })"""
    )
    questions: list[str] = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("button", name="Wissen").click()
    assert questions == ["Echt wissen?"]
    assert page.evaluate("window.avgSent || 0") == 0

    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("button", name="Wissen").click()
    assert questions == ["Echt wissen?", "Echt wissen?"]
    assert page.evaluate("window.avgSent || 0") == 1
