"""The ``flask avg`` command group; features add their own commands to it."""

from __future__ import annotations

from types import ModuleType

import click
from flask import current_app
from flask.cli import AppGroup

from flask_avg.core.i18n import localise

avg_cli = AppGroup("avg", help="AVG (GDPR) tools: set up tables, check declarations, ...")
_registered: set[str] = set()


def register_feature_commands(module: ModuleType) -> None:
    """Let a feature module add its commands once (``register_commands(group)``)."""
    register = getattr(module, "register_commands", None)
    if register is not None and module.__name__ not in _registered:
        _registered.add(module.__name__)
        register(avg_cli)


def _state():  # type: ignore[no-untyped-def]
    return current_app.extensions["avg"]


@avg_cli.command("init-db")
def init_db() -> None:
    """Create flask-avg's tables (for hosts without migrations) and the default groups."""
    from flask_avg.migrations import create_and_stamp

    state = _state()
    added = create_and_stamp(state)
    click.echo(f"flask-avg tables ready; {added} default group(s) added.")


@avg_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Apply flask-avg's own Alembic migrations to the host database."""
    from flask_avg.migrations import upgrade as run_upgrade

    run_upgrade(_state(), revision)
    click.echo(f"flask-avg schema at {revision}.")


@avg_cli.command("check")
def check() -> None:
    """Print what flask-avg found: declared models, their paths and personal columns.

    Every foreign-key path a model could follow to the subject is listed, marked
    ``followed`` or ``not followed`` (see ``ModelPolicy(via=...)``).
    """
    from flask_avg.core.registry import describe

    registry = _state().registry
    for model in registry:
        role = "subject" if model.is_subject else "related"
        path = " -> ".join([model.table.name, *(hop.dst.name for hop in model.path)])
        click.echo(f"{model.name} ({role}, {model.table.name}): {path}")
        for candidate in model.candidates:
            mark = "followed" if model.follows(candidate) else "not followed"
            click.echo(f"  path ({mark}): {describe(candidate, model.table)}")
        if model.shareable:
            how = "kept for the others" if model.policy.shared == "keep" else "erased for all"
            click.echo(f"  shared by: {', '.join(model.parties)} ({how})")
        if model.policy.retention:
            click.echo(f"  retention: {model.policy.retention} from {model.policy.anchor}")
        for name, spec in model.columns.items():
            flags = [spec.category, str(localise(spec.purpose) or "-"), spec.basis or "-"]
            if spec.editable:
                flags.append("editable")
            if spec.secret:
                flags.append("secret")
            if spec.special:
                flags.append("special")
            click.echo(f"  {name}: {', '.join(flags)}")
