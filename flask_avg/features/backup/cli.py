"""``flask avg backup`` and ``flask avg restore``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from flask import current_app

PASSPHRASE_ENV = "AVG_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name
KEY_ENV = "AVG_BACKUP_KEY"


def _secret(passphrase_file: str | None, key_file: str | None, *, confirm: bool) -> Any:
    from flask_avg.features.backup.box import BackupError, Secret

    try:
        if key_file:
            return Secret(key=Path(key_file).read_text(encoding="utf-8"))
        if passphrase_file:
            return Secret(passphrase=Path(passphrase_file).read_text(encoding="utf-8").strip())
        if os.environ.get(KEY_ENV):
            return Secret(key=os.environ[KEY_ENV])
        if os.environ.get(PASSPHRASE_ENV):
            return Secret(passphrase=os.environ[PASSPHRASE_ENV])
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    phrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    if len(phrase) < 12:
        raise click.ClickException("a backup passphrase has at least 12 characters")
    return Secret(passphrase=phrase)


_passphrase = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False),
    help=f"File holding the passphrase (or set {PASSPHRASE_ENV}; else it is asked).",
)
_key = click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False),
    help=f"File holding a 32-byte key as 64 hex digits or base64 (or set {KEY_ENV}).",
)


def register(group: Any) -> None:
    @group.command("backup")
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
    @_passphrase
    @_key
    def backup_command(output: str, passphrase_file: str | None, key_file: str | None) -> None:
        """Write an encrypted, compressed backup of the database and its erasure ledger."""
        from flask_avg.features.backup.service import BackupError, backup

        secret = _secret(passphrase_file, key_file, confirm=True)
        try:
            manifest = backup(current_app.extensions["avg"], output, secret)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"Backup {manifest['id']} written to {output} "
            f"({manifest['ledger_entries']} ledger entries)."
        )

    @group.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--ledger",
        "ledger_file",
        type=click.Path(exists=True, dir_okay=False),
        help="The erasure ledger exported outside the database (flask avg export-ledger).",
    )
    @_passphrase
    @_key
    def restore_command(
        file: str, ledger_file: str | None, passphrase_file: str | None, key_file: str | None
    ) -> None:
        """Restore a backup, then erase again everyone erased since it was taken."""
        from flask_avg.features.backup.service import BackupError, restore

        secret = _secret(passphrase_file, key_file, confirm=False)
        try:
            result = restore(current_app.extensions["avg"], file, secret, ledger_file=ledger_file)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        replayed = result["replayed"]
        click.echo(
            f"Backup {result['id']} of {result['created']} restored; "
            f"{replayed['subjects']} erased subject(s) erased again, "
            f"{replayed['restored_entries']} ledger entries restored."
        )
