"""Keeps a host's Flask-Migrate autogenerate away from flask-avg's tables.

flask-avg's tables are created and versioned by its own migrations (``flask avg upgrade``),
yet they sit in the host's database: without a filter, ``flask db migrate`` proposes
dropping every one of them, the audit log and the erasure ledger included.

Flask-Migrate's ``env.py`` passes ``app.extensions["migrate"].configure_args`` to Alembic's
``context.configure``, so an ``include_name`` filter placed there is enough: flask-avg's
tables are never reflected, hence never compared. It is placed when ``avg.init_app`` runs
and again whenever an app context is pushed, because Flask-Migrate may be initialised after
flask-avg (every ``flask db`` command and script pushes one before ``env.py`` runs). The
host's own ``include_name``, if it gave Flask-Migrate one, still decides for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, appcontext_pushed

IncludeName = Callable[[str | None, str, dict[str, Any]], bool]


def avg_table_names() -> set[str]:
    """Every table flask-avg creates, its own Alembic version table included."""
    from flask_avg.core.models import AvgBase
    from flask_avg.migrations import VERSION_TABLE

    return {table.name for table in AvgBase.metadata.tables.values()} | {VERSION_TABLE}


def include_name(host_filter: IncludeName | None = None) -> IncludeName:
    """An Alembic ``include_name`` that skips flask-avg's tables, then asks ``host_filter``."""

    def include(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ == "table" and name in avg_table_names():
            return False
        return host_filter is None or bool(host_filter(name, type_, parent_names))

    include.avg_filter = True  # type: ignore[attr-defined]
    return include


def install(app: Flask) -> None:
    """Add the filter to Flask-Migrate's ``configure_args`` on ``app``, once; no-op without it."""
    configure_args = getattr(app.extensions.get("migrate"), "configure_args", None)
    if not isinstance(configure_args, dict):
        return
    current = configure_args.get("include_name")
    if not getattr(current, "avg_filter", False):
        configure_args["include_name"] = include_name(current)


def init_app(app: Flask) -> None:
    install(app)
    appcontext_pushed.connect(_on_app_context, app, weak=False)


def _on_app_context(app: Flask, **_: Any) -> None:
    install(app)
