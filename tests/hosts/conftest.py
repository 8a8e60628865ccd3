"""Fixtures for the host conformance suite: each host on each database leg.

Every host has a database of its own per leg (flask-avg's tables have the same
names on every host). Its schema is created once per leg and run; between tests
the tables are emptied, as the ``app`` fixture does for the example club.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from flask_avg.core.models import AvgBase
from flask_avg.features.acl.service import ensure_default_groups
from tests.hosts.adapters import HOSTS
from tests.hosts.base import Host
from tests.support.app import LEGS, REQUIRE_SERVERS, RUN_DB, admin_engine, server_url, truncate

_databases: dict[tuple[str, str], str | None] = {}
_ready: set[tuple[str, str]] = set()
_hosts: dict[str, Host] = {}


class HostClient(FlaskClient):
    """A test client whose every request gets its own app context (see ``RequestClient``)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.application.extensions["sqlalchemy"].session.rollback()
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _database(host: str, leg: str, sqlite_dir: Path) -> str:
    """This run's database for ``host`` on ``leg``, created on first use."""
    if leg == "sqlite":
        return f"sqlite:///{sqlite_dir / f'host-{host}.db'}"  # not the club fixture's file
    if (host, leg) not in _databases:
        url = None
        if server_url(leg) is not None:  # the server answers: make a database beside the run's
            name = f"{RUN_DB}_{host}"
            engine = admin_engine(leg)
            with engine.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
                suffix = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                conn.execute(sa.text(f"CREATE DATABASE {name}{suffix if leg == 'mariadb' else ''}"))
            engine.dispose()
            url = sa.make_url(server_url(leg) or "").set(database=name).render_as_string(False)
        _databases[(host, leg)] = url
    url = _databases[(host, leg)]
    if url is None:
        if REQUIRE_SERVERS:
            pytest.fail(f"{leg} server not reachable; CI runs every database leg")
        pytest.skip(f"{leg} server not reachable")
    return url


@pytest.fixture(scope="session", autouse=True)
def _drop_host_databases() -> Iterator[None]:
    yield
    for (host, leg), url in _databases.items():
        if url is None:
            continue
        engine = admin_engine(leg)
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {RUN_DB}_{host}"))
        engine.dispose()


def _tables(host: Host) -> list[sa.Table]:
    return [*host.db.metadata.sorted_tables, *AvgBase.metadata.sorted_tables]


def _fresh(host: Host, key: tuple[str, str]) -> None:
    """Empty tables (the schema made once per leg), default groups, the host's basics."""
    db = host.db
    db.session.remove()
    if key not in _ready:  # no test drops a host's tables: once per leg and run
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        _ready.add(key)
    else:
        truncate(db.engine, _tables(host))
    ensure_default_groups(db.session)
    db.session.commit()
    host.after_empty()


@pytest.fixture(params=[(h, leg) for h in HOSTS for leg in LEGS], ids=lambda p: "-".join(p))
def host_leg(request: pytest.FixtureRequest, sqlite_dir: Path) -> tuple[Host, str]:
    name, leg = request.param
    url = _database(name, leg, sqlite_dir)
    if name not in _hosts:
        _hosts[name] = HOSTS[name]()
    return _hosts[name], url


@pytest.fixture
def host(host_leg: tuple[Host, str]) -> Host:
    return host_leg[0]


@pytest.fixture
def app(host_leg: tuple[Host, str]) -> Iterator[Flask]:
    """The host's app with empty tables, inside an app context for the whole test."""
    host, url = host_leg
    application = host.app(url)
    application.test_client_class = HostClient
    with application.app_context():
        _fresh(host, (host.name, url))
        yield application
        host.db.session.remove()
        host.db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
