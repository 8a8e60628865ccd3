"""The safe copy: ``flask avg anonymised-copy --to URL`` for developers' laptops.

The host's whole database, every declared personal column anonymised by the
erasure's own anonymisers, secrets and encrypted columns blanked, flask-avg's
records about people left empty (see :mod:`flask_avg.features.safecopy.service`).
"""

from __future__ import annotations

from typing import Any

from flask_avg.core.plugins import Plugin


class SafeCopyPlugin(Plugin):
    name = "safecopy"

    def init_app(self, app: Any, state: Any) -> None:
        from flask_avg.features.safecopy.cli import register_kind

        register_kind(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.safecopy.cli import register

        register(group)


plugin = SafeCopyPlugin()
