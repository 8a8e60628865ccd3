"""``flask avg guardians``: the daily birthdays (age of consent, guardians' access ending)."""

from __future__ import annotations

from typing import Any


def register(group: Any) -> None:
    import click
    from flask.cli import with_appcontext

    @group.command("guardians")
    @with_appcontext
    def guardians_command() -> None:
        """Tell members who reached the age of consent; end guardians' access by age."""
        from flask_avg.extension import get_state
        from flask_avg.features.guardians import service

        result = service.birthdays(get_state())
        click.echo(f"told: {result.told}, guardian links ended: {result.ended}")
