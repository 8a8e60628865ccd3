"""In Debian's chromium: a member reads and corrects their data, files an erasure request; the board sees it."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def logout(page) -> None:
    page.get_by_role("button", name="Uitloggen").click()


def send_erasure(page, section) -> None:
    """Send the erasure form: the page asks first, in words, and the member agrees."""
    questions: list[str] = []

    def agree(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", agree)
    with page.expect_navigation():
        section.get_by_role("button", name=re.compile("Verzoek versturen")).click()
    assert questions == ["Ons vragen je gegevens te wissen? Daarna kun je niet meer inloggen."]


def member_files_erasure(page, base: str) -> None:
    """As lid@example.org: read my data in Dutch, correct my phone, ask for erasure."""
    browser_login(page, base, "lid@example.org")
    page.get_by_role("link", name="je gegevens").click()
    page.wait_for_url(base + "/avg/me")
    expect(page.get_by_role("heading", name="Mijn gegevens", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Wat we bewaren en waarom")).to_be_visible()
    expect(page.get_by_role("heading", name="Mijn privacyverzoeken")).to_be_visible()
    assert page.locator("[data-field=email]").first.inner_text() == "lid@example.org"

    page.get_by_role("link", name="Mijn gegevens corrigeren").click()
    page.wait_for_url(base + "/avg/me/edit")
    phone = page.locator("#f_phone")
    phone.fill("06-12345678")
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url(base + "/avg/me")
    expect(
        page.get_by_role("status").filter(has_text="Je wijzigingen zijn opgeslagen.")
    ).to_be_visible()
    assert page.locator("[data-field=phone]").first.inner_text() == "06-12345678"

    # One click: my data as Excel, with the corrected phone number in it.
    with page.expect_download() as download_info:
        page.locator("section.avg-self-export button[value=xlsx]").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    cells = {
        str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row
    }
    assert "06-12345678" in cells and "lid@example.org" in cells

    page.get_by_role("link", name=re.compile("Een verzoek indienen")).click()
    page.wait_for_url(base + "/avg/me/requests")
    section = page.locator("#avg-new-erasure")
    section.get_by_label("Je wachtwoord").fill("avg-demo")
    send_erasure(page, section)
    expect(page.get_by_text("We hebben je verzoek ontvangen.")).to_be_visible()
    row = page.locator("table.avg-my-requests tr[data-status=received]")
    assert "Verwijdering van mijn gegevens" in row.inner_text()
    logout(page)


def test_member_corrects_phone_and_files_erasure_board_sees_it(live_server, page):
    base = live_server.url
    member_files_erasure(page, base)

    browser_login(page, base, "bestuur@example.org")
    page.goto(base + "/avg/")
    page.get_by_role("link", name="Privacyverzoeken").first.click()
    page.wait_for_url(base + "/avg/requests")
    expect(page.get_by_role("heading", name="Privacyverzoeken", level=1)).to_be_visible()
    row = page.locator("table.avg-request-queue tbody tr")
    assert row.count() == 1
    assert "Verwijdering van mijn gegevens" in row.inner_text()
    assert "Ontvangen" in row.inner_text()


def test_wrong_password_files_nothing(live_server, page):
    base = live_server.url
    browser_login(page, base, "lid@example.org")
    page.goto(base + "/avg/me/requests")
    section = page.locator("#avg-new-erasure")
    section.get_by_label("Je wachtwoord").fill("fout")
    send_erasure(page, section)
    expect(page.get_by_text("Dat wachtwoord klopt niet.")).to_be_visible()
    assert page.locator("table.avg-my-requests").count() == 0
