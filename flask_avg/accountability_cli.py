"""``flask avg`` commands of the accountability feature."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app


def _state() -> Any:
    return current_app.extensions["avg"]


def register(group: Any) -> None:
    @group.command("consent-reminders")
    @click.option("--days", default=30, show_default=True, help="Remind this many days ahead.")
    def consent_reminders(days: int) -> None:
        """Send the consent_expiring signal for consents that expire soon (run daily)."""
        from .consent import send_expiry_reminders

        state = _state()
        sent = send_expiry_reminders(state, days)
        state.db.session.commit()
        click.echo(f"{sent} consent reminder(s) sent.")
