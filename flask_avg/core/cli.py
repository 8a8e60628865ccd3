"""The ``flask avg`` command group; features add their own commands to it."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo

from flask_avg.core.crypto import is_encrypted
from flask_avg.core.i18n import localise
from flask_avg.core.plugins import Plugin


class AvgGroup(AppGroup):
    """Runs every subcommand, plugins' and nested groups' included, in a request context.

    Texts are translated through Flask-Babel, which asks the host's locale selector;
    hosts commonly read ``request`` there, so a bare app context would crash them.
    """

    def invoke(self, ctx: click.Context) -> Any:
        app = current_app._get_current_object() if current_app else None  # type: ignore[attr-defined]
        if app is None:
            app = ctx.ensure_object(ScriptInfo).load_app()
        with app.test_request_context():  # no client address: AVG_AUDIT_IP records none
            return super().invoke(ctx)


avg_cli = AvgGroup("avg", help="AVG (GDPR) tools: set up tables, check declarations, ...")
_registered: set[str] = set()


def register_plugin_commands(plugin: Plugin) -> None:
    """Let a plugin add its commands to the group, once per process."""
    if plugin.name not in _registered:
        _registered.add(plugin.name)
        plugin.register_commands(avg_cli)


def _state():  # type: ignore[no-untyped-def]
    return current_app.extensions["avg"]


@avg_cli.command("init-db")
def init_db() -> None:
    """Create flask-avg's tables (for hosts without migrations) and the default groups."""
    from flask_avg.migrations import create_and_stamp

    messages = create_and_stamp(_state())
    click.echo("; ".join(["flask-avg tables ready", *messages]) + ".")


@avg_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Apply flask-avg's own Alembic migrations to the host database."""
    from flask_avg.migrations import upgrade as run_upgrade

    run_upgrade(_state(), revision)
    click.echo(f"flask-avg schema at {revision}.")


@avg_cli.command("check")
@click.option(
    "--security",
    is_flag=True,
    help="Hold the running configuration against the security checklist instead; "
    "exit code 1 when a line fails.",
)
def check(security: bool) -> None:
    """Print what flask-avg found: declared models, their paths and personal columns.

    Every foreign-key path a model could follow to the subject is listed, marked
    ``followed`` or ``not followed`` (see ``ModelPolicy(via=...)``).
    """
    from flask_avg.core.registry import describe

    if security:
        _security_check()
        return

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
            if spec.encrypted or is_encrypted(model.table.c[name]):
                flags.append("encrypted")
            click.echo(f"  {name}: {', '.join(flags)}")


@avg_cli.command("generate-key")
@click.option("--id", "key_id", default="k1", show_default=True, help="The key's id.")
def generate_key(key_id: str) -> None:
    """Print a new encryption key as ``id:base64``, for AVG_ENCRYPTION_KEYS."""
    from flask_avg.core import crypto

    if not crypto.KEY_ID.match(key_id):
        raise click.BadParameter("letters, digits, '-' or '_', at most 16", param_hint="--id")
    click.echo(f"{key_id}:{crypto.generate_key()}")


@avg_cli.command("rotate-keys")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Rows re-encrypted per transaction.",
)
def rotate_keys(batch_size: int) -> None:
    """Re-encrypt every encrypted column under the first key of AVG_ENCRYPTION_KEYS.

    Values already under that key are skipped, so a run that was stopped (or
    killed) is finished by running it again. Keep the older keys in
    AVG_ENCRYPTION_KEYS until this reports nothing left.
    """
    from flask_avg.core import crypto
    from flask_avg.core.jobs import ROTATE_KEYS, run_in_cli

    keyring = _state().keyring
    try:
        plan = crypto.rotation_plan(_state().db)
    except crypto.CryptoError as err:
        raise click.ClickException(str(err)) from None
    if not plan:
        click.echo("no encrypted columns: nothing to rotate")
        return
    if keyring is None:
        raise click.ClickException("no encryption keys: set AVG_ENCRYPTION_KEYS")
    # a job: its row records progress and outcome; a killed run is failed and retryable
    _job, out = run_in_cli(
        ROTATE_KEYS,
        {"batch_size": batch_size},
        label=f"re-encrypting under key {keyring.primary}",
    )
    click.echo(
        f"{out['done']} value(s) re-encrypted under key {out['key']} in {out['columns']} "
        f"column(s); {out['left']} left"
    )
    if out["left"]:
        raise SystemExit(1)


def _security_check() -> None:
    from flask import current_app

    from flask_avg.core import checklist

    lines = checklist.run(current_app, _state())
    for line in lines:
        click.echo(
            f"[{line.verdict:4s}] {line.label}" + (f": {line.advice}" if line.advice else "")
        )
    if checklist.failed(lines):
        raise SystemExit(1)


@avg_cli.group("plugins")
def plugins_group() -> None:
    """The plugins taking part in export and erasure, and their external erasures."""


@plugins_group.command("list")
def plugins_list() -> None:
    """Every registered plugin, its pages and whether it erases outside the database."""
    from flask_avg.core import external

    state = _state()
    owed: dict[str, int] = {}
    for row in external.pending(state):
        owed[row.plugin] = owed.get(row.plugin, 0) + 1
    for plugin in state.plugins:
        parts = [f"pages: {plugin.blueprint or '-'}"]
        if plugin.external:
            parts.append(f"external erasures owed: {owed.get(plugin.name, 0)}")
        title = f" [{plugin.title}]" if plugin.title else ""
        click.echo(f"{plugin.name}{title} ({type(plugin).__module__}): {', '.join(parts)}")


@plugins_group.command("retry")
def plugins_retry() -> None:
    """Carry out the external erasures still owed (files, mailing lists)."""
    from flask_avg.core import external

    done, failed = external.run(_state())
    click.echo(f"external erasures: {done} done, {failed} failed")
    if failed:
        raise SystemExit(1)


@avg_cli.command("encrypt-existing")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Rows encrypted per transaction.",
)
def encrypt_existing(batch_size: int) -> None:
    """Encrypt the plain text left in columns declared encrypted after they held data.

    Run it once after widening the column to TEXT and deploying with
    AVG_ENCRYPTION_KEYS. Values that already look encrypted are never touched, so a
    second run does nothing and a stopped (or killed) run is finished by running it
    again.
    """
    from flask_avg.core import crypto

    keyring = _state().keyring
    try:
        plan = crypto.rotation_plan(_state().db)
    except crypto.CryptoError as err:
        raise click.ClickException(str(err)) from None
    if not plan:
        click.echo("no encrypted columns: nothing to encrypt")
        return
    if keyring is None:
        raise click.ClickException("no encryption keys: set AVG_ENCRYPTION_KEYS")
    todo = {item.name: crypto.plaintext_pending(item) for item in plan}
    done = 0
    with click.progressbar(
        length=sum(todo.values()), label=f"encrypting under key {keyring.primary}"
    ) as bar:
        for item in plan:
            if todo[item.name]:
                try:
                    done += crypto.encrypt_column(
                        item, keyring, batch_size=batch_size, on_batch=bar.update
                    )
                except crypto.CryptoError as err:
                    raise click.ClickException(str(err)) from None
    left = sum(crypto.plaintext_pending(item) for item in plan)
    odd = {item.name: crypto.lookalikes(item) for item in plan}
    click.echo(
        f"{done} plain-text value(s) encrypted under key {keyring.primary} in {len(plan)} "
        f"column(s); {left} left"
    )
    for name, count in odd.items():
        if count:
            click.echo(
                f"{name}: {count} value(s) start like an encrypted value but are not one; "
                "left untouched: correct them by hand"
            )
    if left or any(odd.values()):
        raise SystemExit(1)
