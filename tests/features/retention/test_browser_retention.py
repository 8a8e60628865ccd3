"""In Debian's chromium: the board confirms the retention periods on its first visit,
sees that no purge has run, presses "purge now", follows the progress to the result,
and the retention page then shows that run; screenshots at phone and desktop width."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from example_app.models import db
from flask_avg.extension import get_state
from flask_avg.features.retention.models import PurgeRun
from tests.support.app import browser_login

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``AVG_SCREENSHOT_DIR`` (CI keeps it) or the test's tmp dir."""
    folder = Path(os.environ.get("AVG_SCREENSHOT_DIR") or tmp_path) / "retention"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_board_confirms_periods_and_purges_now(live_server, page, tmp_path):
    with live_server.app.app_context():
        get_state().settings.set("retention.members.days", 365)
        db.session.commit()
    shots = _shots(tmp_path)
    browser_login(page, live_server.url, "bestuur@example.org")
    page.goto(live_server.url + "/avg/retention")
    expect(page.get_by_role("heading", name="Bevestig de bewaartermijnen")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="nog geen opschoning")).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"retention-first-visit-{width}.png"), full_page=True)
    page.get_by_role("button", name="Deze termijnen bevestigen").click()
    page.wait_for_url(live_server.url + "/avg/retention")
    expect(page.get_by_role("status").filter(has_text="Bewaartermijnen bevestigd")).to_be_visible()
    assert page.locator("[data-first-visit]").count() == 0

    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation question, if asked
    page.get_by_role("button", name="Nu opschonen").click()
    page.wait_for_url(re.compile(r".*/avg/retention/runs/\d+$"))
    page.locator("[data-status=done]").wait_for(timeout=60_000)  # the page refreshes itself
    expect(page.get_by_text("De opschoning is klaar")).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"retention-run-{width}.png"), full_page=True)

    page.get_by_role("link", name="Terug naar bewaartermijnen").click()
    last = page.locator("[data-purge-last]")
    assert "gestart door Noor El Amrani (bestuur@example.org)" in last.inner_text()  # by name
    assert page.locator("[data-purge-warning]").count() == 0
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"retention-{width}.png"), full_page=True)
    with live_server.app.app_context():
        run = db.session.scalars(select(PurgeRun)).one()
        assert run.status == "done" and run.trigger == "board"
