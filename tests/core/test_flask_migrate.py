"""A host on Flask-Migrate: autogenerate leaves flask-avg's tables alone, the host writing nothing.

Runs Flask-Migrate's own ``env.py`` (``flask db init`` then ``flask db migrate``) on a database
holding flask-avg's tables, with Flask-Migrate initialised before and after flask-avg.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_avg.core.migrate import avg_table_names
from flask_avg.core.models import AvgBase
from tests.support.factory_host import db, running

# Flask-Migrate's env.py template tries Flask-SQLAlchemy 2's db.get_engine() first.
pytestmark = pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """Flask-Migrate's env.py loads alembic.ini's logging config, which disables every
    existing logger; later tests still need theirs."""
    manager = logging.Logger.manager
    loggers = [lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = {lg: lg.disabled for lg in loggers}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for lg in manager.loggerDict.values():
        if isinstance(lg, logging.Logger):
            lg.disabled = disabled.get(lg, False)
    root.handlers[:] = handlers
    root.setLevel(level)


def autogenerate(app: Flask, migrations: Path) -> str:
    """``flask db init`` and ``flask db migrate``; the generated revision's text."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["db", "migrate", "-m", "host change"])
    assert result.exit_code == 0, result.output
    (script,) = (migrations / "versions").glob("*.py")
    return script.read_text(encoding="utf-8")


def host_with_avg_tables(app: Flask) -> None:
    """flask-avg's tables and version as ``flask avg init-db`` leaves them; the host's
    tables but ``fh_posts``, which its next migration must create."""
    result = app.test_cli_runner().invoke(args=["avg", "init-db"])
    assert result.exit_code == 0, result.output
    db.create_all()
    db.metadata.tables["fh_posts"].drop(db.engine)
    present = set(sa.inspect(db.engine).get_table_names())
    assert {"avg_audit_log", "avg_erasure_ledger", "avg_alembic_version"} <= avg_table_names()
    assert avg_table_names() <= present


def assert_no_avg_operation(script: str) -> None:
    for name in avg_table_names():
        assert f"'{name}'" not in script, name


@pytest.mark.db
@pytest.mark.parametrize("order", ["before", "after"])
def test_autogenerate_proposes_host_changes_only(db_url: str, tmp_path: Path, order: str) -> None:
    migrations = tmp_path / "migrations"
    with running(db_url, migrate_order=order, migrations=str(migrations)) as app:
        host_with_avg_tables(app)
        script = autogenerate(app, migrations)

    assert_no_avg_operation(script)
    assert "op.create_table('fh_posts'" in script


@pytest.mark.db
def test_the_hosts_own_include_name_still_decides_for_its_tables(
    db_url: str, tmp_path: Path
) -> None:
    asked: list[str] = []

    def host_filter(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        asked.append(f"{type_}:{name}")
        return not (type_ == "table" and name == "fh_legacy")

    migrations = tmp_path / "migrations"
    options = {"include_name": host_filter}
    with running(
        db_url, migrate_order="before", migrations=str(migrations), migrate_args=options
    ) as app:
        host_with_avg_tables(app)
        legacy = sa.Table("fh_legacy", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
        legacy.create(db.engine)
        try:
            script = autogenerate(app, migrations)
        finally:
            legacy.drop(db.engine)

    assert_no_avg_operation(script)
    assert "fh_legacy" not in script
    assert "op.create_table('fh_posts'" in script
    assert "table:fh_users" in asked
    # flask-avg's tables were never handed to the host's filter: they were skipped first
    assert not any(
        entry == f"table:{table.name}"
        for table in AvgBase.metadata.sorted_tables
        for entry in asked
    )
