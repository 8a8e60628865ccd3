"""In Debian's chromium: a member withdraws newsletter consent; the board records a breach
and watches its 72-hour clock on the dashboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.extension import get_state
from flask_avg.features.consent import service as consent
from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_member_withdraws_newsletter_consent(live_server, page):
    with live_server.app.app_context():
        member = db.session.scalars(select(Member).where(Member.email == "lid@example.org")).one()
        consent.record(get_state(), member, "newsletter", given=True, method="signup_form")
        db.session.commit()
        member_id = member.id
    browser_login(page, live_server.url, "lid@example.org")
    page.goto(live_server.url + "/avg/me")
    section = page.locator("form[data-purpose=newsletter]")
    assert "Je gaf toestemming op" in section.inner_text()
    section.get_by_role("button", name="Toestemming intrekken").click()
    page.wait_for_url(live_server.url + "/avg/me*")
    expect(page.get_by_role("status").filter(has_text="ingetrokken")).to_be_visible()
    section = page.locator("form[data-purpose=newsletter]")
    assert "Je hebt je toestemming ingetrokken" in section.inner_text()
    expect(section.get_by_role("button", name="Toestemming geven")).to_be_visible()
    with live_server.app.app_context():
        assert not consent.has_consent(get_state(), member_id, "newsletter")


def test_board_records_a_breach_and_sees_the_clock(live_server, page):
    browser_login(page, live_server.url, "bestuur@example.org")
    page.goto(live_server.url + "/avg/dashboard")
    expect(page.get_by_text("Er wacht geen datalek op een melding.")).to_be_visible()
    page.get_by_role("link", name="Datalek vastleggen").click()
    page.get_by_label("Korte omschrijving").fill("USB-stick met ledenlijst verloren")
    page.get_by_label("Aard van het lek (wat er gebeurde)").fill("Stick verloren in de kantine")
    page.get_by_label("Contactgegevens").check()
    page.get_by_label(
        "Lid", exact=True
    ).check()  # the example labels its models in Dutch and English
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url(re.compile(r".*/avg/breaches/\d+$"))  # the saved breach's own page
    expect(page.get_by_text("Het datalek is opgeslagen.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"betrokkenen, geteld"))).to_be_visible()
    page.get_by_role("link", name="Dashboard").click()
    panel = page.locator("#avg-panel-breaches")
    expect(panel.get_by_text("USB-stick met ledenlijst verloren")).to_be_visible()
    clock = panel.locator("[data-clock=open]")
    assert re.fullmatch(r"Nog (71|72) u \d+ min om te melden bij de AP", clock.inner_text().strip())
