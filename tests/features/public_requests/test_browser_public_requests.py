"""A request without an account, in the browser: the verification mail reaches a real SMTP
server, the link works once, the board sees the request, the export downloads once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from example_app.models import Member, db
from tests.support.app import browser_login, make_app, serving
from tests.support.smtp import SmtpServer, smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name

LINK = re.compile(r"https?://[^/\s]+(/avg/ask/(?:verify|download)/\S+)")


@pytest.fixture
def public_site(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Any]:
    from example_app.demo import seed

    application = make_app(
        f"sqlite:///{tmp_path / 'public.db'}",
        SERVER_NAME=None,
        AVG_PUBLIC_EXPORT_DIR=str(tmp_path / "exports"),
        **smtp_server.config,
    )
    with application.app_context():
        seed(n_members=8)
    with serving(application) as server:
        yield server


def _link(smtp_server: SmtpServer, address: str) -> str:
    return LINK.search(text_of(smtp_server.to(address)[-1])).group(1)


def test_access_request_without_an_account(public_site, page, smtp_server):
    base = public_site.url
    with public_site.app.app_context():
        address = db.session.scalars(select(Member.email).order_by(Member.id.desc())).first()

    page.goto(base + "/avg/ask")
    page.get_by_label("Je e-mailadres").fill(address)
    page.get_by_label("Wat vraag je?").select_option("access")
    page.get_by_role("button", name="Versturen").click()
    page.wait_for_url(base + "/avg/ask/sent")
    expect(page.get_by_role("heading", name="Kijk in je e-mail")).to_be_visible()

    verify = _link(smtp_server, address)
    page.goto(base + verify)
    page.get_by_role("button", name="Bevestigen").click()
    expect(page.locator("#avg-public-confirmed")).to_be_visible()
    # the link works once
    assert page.goto(base + verify).status == 410

    download = _link(smtp_server, address)
    assert "/avg/ask/download/" in download
    page.goto(base + download)
    with page.expect_download() as info:
        page.get_by_role("button", name="Downloaden").click()
    data = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert address in json.dumps(data)
    assert page.goto(base + download).status == 410  # once

    # the board sees the verified request
    page.context.clear_cookies()
    browser_login(page, base, "bestuur@example.org")
    page.goto(base + "/avg/public-requests")
    expect(page.get_by_text("identiteit: e-mail geverifieerd").first).to_be_visible()
