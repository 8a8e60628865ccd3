"""``flask avg backup`` and ``flask avg restore``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from flask import current_app

PASSPHRASE_ENV = "AVG_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name
KEY_ENV = "AVG_BACKUP_KEY"


#: the shortest passphrase a new backup accepts
MIN_PASSPHRASE = 12


def _secret(passphrase_file: str | None, key_file: str | None, *, new: bool) -> Any:
    """The key or passphrase, from a file, the environment or a prompt; ``new`` for a
    backup about to be written (the passphrase is asked twice and must be long enough)."""
    from flask_avg.features.backup.box import BackupError, Secret

    try:
        if key_file:
            secret = Secret(key=Path(key_file).read_text(encoding="utf-8"))
            secret.key()  # a malformed key fails here, before anything is written
            return secret
        if os.environ.get(KEY_ENV) and not passphrase_file:
            secret = Secret(key=os.environ[KEY_ENV])
            secret.key()
            return secret
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if passphrase_file:
        phrase = Path(passphrase_file).read_text(encoding="utf-8").strip()
    elif os.environ.get(PASSPHRASE_ENV):
        phrase = os.environ[PASSPHRASE_ENV]
    else:
        phrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=new)
    if new and len(phrase) < MIN_PASSPHRASE:
        raise click.ClickException(f"a backup passphrase has at least {MIN_PASSPHRASE} characters")
    if not phrase:
        raise click.ClickException("the passphrase is empty")
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

        secret = _secret(passphrase_file, key_file, new=True)
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

        secret = _secret(passphrase_file, key_file, new=False)
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
