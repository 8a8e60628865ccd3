"""Fixtures: a fresh example-club app per test, on every database leg.

Legs come from ``AVG_TEST_DATABASES`` (default ``sqlite,postgresql,mariadb``); the
helpers behind these fixtures (apps, legs, logins, the browser) live in
:mod:`tests.support.app`, shared with the tests that build apps of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from example_app.models import db
from tests.support.app import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LEGS,
    REQUIRE_SERVERS,
    RUN_DB,
    RequestClient,
    admin_engine,
    empty_tables,
    make_app,
    reset_schema,
    schema_intact,
    server_errors,
    server_url,
    server_urls,
    serving,
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for leg, url in server_urls.items():
        if url is None:
            continue
        engine = admin_engine(leg)
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {RUN_DB}"))
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sqlite")


@pytest.fixture(params=LEGS)
def db_url(request: pytest.FixtureRequest, sqlite_dir: Path) -> str:
    """One database per leg and test run; the ``app`` fixture keeps its schema."""
    leg = request.param
    if leg == "sqlite":
        return f"sqlite:///{sqlite_dir / 'club.db'}"
    url = server_url(leg)
    if url is None:
        reason = f"{leg} server not reachable ({server_errors.get(leg)})"
        if REQUIRE_SERVERS:
            pytest.fail(reason + "; CI runs every database leg")
        pytest.skip(reason)
    return url


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """A fresh example-club app with empty tables, on one database leg.

    The schema is created once per leg and emptied after each test (creating
    it costs far more than the test on the server legs); a test that dropped
    tables gets them created again by the next one.
    """
    application = make_app(db_url)
    application.test_client_class = RequestClient
    with application.app_context():
        if not schema_intact():
            reset_schema(application)
        yield application
        db.session.remove()
        if schema_intact():
            empty_tables()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Any]:
    """The example club on SQLite with a small demo club, served on a free local port."""
    from example_app.demo import seed

    application = make_app(f"sqlite:///{tmp_path / 'live.db'}", SERVER_NAME=None)
    with application.app_context():
        seed(n_members=25)
    with serving(application) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVERS:
            pytest.fail(reason + "; CI runs the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, locale="nl-NL")
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
