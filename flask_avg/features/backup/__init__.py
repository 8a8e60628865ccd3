"""Backups that respect erasure: ``flask avg backup -o FILE`` and ``flask avg restore FILE``.

Encrypted (AES-GCM, key or scrypt passphrase) and compressed, with the erasure
ledger inside; a restore replays every erasure recorded since the backup, so
nobody erased comes back (see :mod:`flask_avg.features.backup.service`).
"""

from __future__ import annotations

from typing import Any

from flask_avg.core.plugins import Plugin


class BackupPlugin(Plugin):
    name = "backup"

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.backup.cli import register

        register(group)


plugin = BackupPlugin()
