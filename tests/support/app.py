"""Apps and database legs for the tests: the example club per leg, its schema, logins.

Legs come from ``AVG_TEST_DATABASES`` (default ``sqlite,postgresql,mariadb``).
A server leg that cannot be reached is skipped with the reason locally; with
``CI=true`` (or ``AVG_TEST_REQUIRE_SERVERS=1``) it fails instead, so CI always
runs every leg. Each test run works in databases of its own (named after the
process), so two runs on one machine do not trample each other.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app
from example_app.models import db
from flask_avg.core.models import AvgBase
from flask_avg.features.acl.service import ensure_default_groups

SERVERS = {
    "postgresql": os.environ.get(
        "AVG_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("AVG_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
LEGS = [
    leg.strip()
    for leg in os.environ.get("AVG_TEST_DATABASES", "sqlite,postgresql,mariadb").split(",")
    if leg.strip()
]
REQUIRE_SERVERS = (
    os.environ.get("CI") == "true" or os.environ.get("AVG_TEST_REQUIRE_SERVERS") == "1"
)
RUN_DB = f"avg_test_{os.getpid()}"

server_urls: dict[str, str | None] = {}
server_errors: dict[str, str] = {}


def admin_engine(leg: str) -> sa.Engine:
    return sa.create_engine(SERVERS[leg], isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def server_url(leg: str) -> str | None:
    """Create this run's database on the server once; None when unreachable."""
    if leg in server_urls:
        return server_urls[leg]
    url: str | None = None
    try:
        engine = admin_engine(leg)
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {RUN_DB}"))
            suffix = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if leg == "mariadb" else ""
            conn.execute(sa.text(f"CREATE DATABASE {RUN_DB}{suffix}"))
        engine.dispose()
        url = str(sa.make_url(SERVERS[leg]).set(database=RUN_DB).render_as_string(False))
    except Exception as exc:  # noqa: BLE001 - any failure means "server not usable"
        server_errors[leg] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    server_urls[leg] = url
    return url


def engine_options(url: str) -> dict[str, Any]:
    """Pre-ping pooled connections; on SQLite let a writer wait its turn for 30 s (the
    driver's 5 s is too short when several test workers load the machine)."""
    if url.startswith("sqlite"):
        return {"pool_pre_ping": True, "connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def app_settings(url: str, server: str = "club.test", **config: Any) -> dict[str, Any]:
    """The settings every test app starts from, on database ``url``."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "SERVER_NAME": server,
        **config,
    }


def make_app(url: str, **config: Any) -> Flask:
    # the example club keeps member photos as files: each app its own folder
    photos = tempfile.mkdtemp(prefix="avg-photos-")
    return create_app(app_settings(url, **{"CLUB_PHOTO_DIR": photos, **config}))


def club_tables() -> list[sa.Table]:
    """The example club's tables and flask-avg's, parents first."""
    return [*db.metadata.sorted_tables, *AvgBase.metadata.sorted_tables]


def schema_intact() -> bool:
    """Whether every club and flask-avg table exists (a test may have dropped some)."""
    names = set(sa.inspect(db.engine).get_table_names())
    return all(table.name in names for table in club_tables())


def empty_tables() -> None:
    """Delete every row of the club's and flask-avg's tables, identities back at 1,
    and put the default groups back: a fresh club without creating the schema again."""
    db.session.remove()
    truncate(db.engine, club_tables())
    ensure_default_groups(db.session)
    db.session.commit()


def truncate(engine: sa.Engine, tables: list[sa.Table]) -> None:
    """Delete every row of ``tables`` (parents first), identities back at 1."""
    with engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            names = ", ".join(conn.dialect.identifier_preparer.quote(t.name) for t in tables)
            conn.exec_driver_sql(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE")
        elif dialect in ("mysql", "mariadb"):
            # TRUNCATE costs ~10 ms a table: only those written to (rows, or a used counter)
            used = conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND (table_rows > 0 OR auto_increment > 1)"
                )
            ).scalars()
            touched = set(used)
            for table in tables:
                if table.name not in touched and conn.scalar(
                    sa.select(sa.literal(1)).select_from(table).limit(1)
                ):
                    touched.add(table.name)
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            for table in tables:
                if table.name in touched:
                    conn.exec_driver_sql(f"TRUNCATE TABLE `{table.name}`")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for table in reversed(tables):
                conn.execute(table.delete())
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def reset_schema(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        ensure_default_groups(db.session)
        db.session.commit()


class RequestClient(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    The ``app`` fixture keeps an app context open for the whole test (so tests
    can use the session directly); without this, Flask would reuse it for the
    client's requests, and ``g`` (Flask-Login's user, Flask-WTF's token,
    Flask-Babel's locale) would carry over from one request, or one client, to
    the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        db.session.rollback()  # end the test's read transaction; its objects reload after
        with self.application.app_context():
            return super().open(*args, **kwargs)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token from the form on ``url``, as a browser would read it."""
    page = client.get(url)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = "avg-demo") -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, f"login as {email} failed"


# -- browser tests ---------------------------------------------------------------


@contextlib.contextmanager
def serving(application: Flask) -> Iterator[Any]:
    """``application`` served on a free local port in a thread, as a browser test's site:
    the server carries ``url`` and ``app``; the engine's connections go when it stops."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    server.app = application  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        with application.app_context():
            db.engine.dispose()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_login(page: Any, base_url: str, email: str, password: str = "avg-demo") -> None:
    page.goto(base_url + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(base_url + "/")
