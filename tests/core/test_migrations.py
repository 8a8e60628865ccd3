"""flask-avg's shipped Alembic migrations build exactly the schema its models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from example_app.models import db
from flask_avg.core.models import AvgBase
from flask_avg.extension import get_state
from flask_avg.migrations import VERSION_TABLE, include_object, upgrade


def test_upgrade_from_empty_matches_the_models(app):
    AvgBase.metadata.drop_all(db.engine)
    upgrade(get_state())
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda o, n, t, r, c: (
                    t != "table" or (n or "").startswith("avg_")
                ),
                "compare_type": True,
            },
        )
        diff = [d for d in compare_metadata(ctx, AvgBase.metadata) if d[0] != "remove_table"]
    assert diff == []
    assert inspect(db.engine).has_table(VERSION_TABLE)


def test_init_db_stamps_and_is_repeatable(app):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["avg", "init-db"])
        assert result.exit_code == 0, result.output
    with db.engine.connect() as conn:
        assert MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_heads()


def test_include_object_keeps_hosts_autogenerate_away_from_avg_tables():
    table = AvgBase.metadata.tables["avg_audit_log"]
    assert include_object(table, "avg_audit_log", "table", False, None) is False
    assert include_object(None, "members", "table", False, None) is True
    assert include_object(table.c.action, "action", "column", False, None) is False
