"""In Debian's chromium: the board downloads a member's Excel, a member their own JSON."""

from __future__ import annotations

import json

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.support.app import browser_login

pytestmark = pytest.mark.browser


def test_board_clicks_export_and_receives_a_valid_xlsx(live_server, page, tmp_path):
    browser_login(page, live_server.url, "bestuur@example.org")
    page.goto(live_server.url + "/avg/members/5")
    with page.expect_download() as info:
        page.get_by_role("button", name="Excel").click()
    download = info.value
    assert "-lid-5-" in download.suggested_filename  # the page is Dutch
    assert download.suggested_filename.endswith(".xlsx")
    target = tmp_path / "member.xlsx"
    download.save_as(target)
    book = openpyxl.load_workbook(target)
    assert book.sheetnames[0] == "Over deze export"
    cover = [c for row in book.worksheets[0].iter_rows(values_only=True) for c in row if c]
    assert "Persoonsgegevens van lid 5" in cover
    assert "Lid" in book.sheetnames
    assert book["Lid"].max_row == 2  # header and the member


def test_member_downloads_own_json(live_server, page, tmp_path):
    browser_login(page, live_server.url, "lid@example.org")
    page.goto(live_server.url + "/avg/me")
    expect(page.get_by_role("heading", name="Je gegevens downloaden")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("button", name="JSON").click()
    target = tmp_path / "me.json"
    info.value.save_as(target)
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["schema_version"] == "1.0"
    assert doc["export"]["special_categories_included"] is True
    emails = [
        row["values"]["email"]
        for cat in doc["categories"]
        for model in cat["models"]
        if model["name"] == "Member"
        for row in model["rows"]
        if "email" in row["values"]
    ]
    assert emails == ["lid@example.org"]
