"""The free-text scan: ``flask avg scan`` finds personal data in every text column.

BSNs (11-proof), IBANs (mod-97), Dutch and international phone numbers, e-mail
addresses, postcodes with house numbers and dates of birth, counted per table
and column with masked examples; a declared column holding another kind than
its category is flagged. Needs the ``scan`` extra (python-stdnum, phonenumbers).
"""

from __future__ import annotations

from typing import Any

from flask_avg.core.plugins import Plugin


class ScanPlugin(Plugin):
    name = "scan"

    def init_app(self, app: Any, state: Any) -> None:
        from flask_avg.features.scan.cli import register_kind

        register_kind(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.scan.cli import register

        register(group)


plugin = ScanPlugin()
