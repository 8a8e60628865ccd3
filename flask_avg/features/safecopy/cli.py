"""``flask avg anonymised-copy``."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app


def register(group: Any) -> None:
    @group.command("anonymised-copy")
    @click.option(
        "--to",
        "url",
        required=True,
        metavar="URL",
        help="An empty database: sqlite:///dev.db, postgresql+psycopg://..., mysql+pymysql://...",
    )
    @click.option(
        "--strict",
        is_flag=True,
        help="Also blank undeclared text columns in which the scan finds personal data.",
    )
    @click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
    def anonymised_copy_command(url: str, strict: bool, batch_size: int) -> None:
        """Copy the whole database into another, every personal value anonymised."""
        from sqlalchemy.exc import ArgumentError, OperationalError

        from flask_avg.features.safecopy.service import CopyError, anonymised_copy

        state = current_app.extensions["avg"]
        try:
            result = anonymised_copy(state, url, strict=strict, batch_size=batch_size)
        except ArgumentError:
            raise click.ClickException(f"not a database URL: {url!r}") from None
        except OperationalError as exc:
            raise click.ClickException(f"cannot reach the target database: {exc.orig}") from None
        except CopyError as exc:
            raise click.ClickException(str(exc)) from None
        if strict:
            for name in result.blanked:
                click.echo(f"blanked: {name}")
        click.echo(
            f"{sum(result.rows.values())} row(s) in {len(result.rows)} table(s) copied; "
            f"{len(result.anonymised)} column(s) anonymised, {len(result.blanked)} blanked, "
            f"{len(result.emptied)} of flask-avg's table(s) left empty."
        )
        state.audit.record(
            "safecopy.made",
            detail={"tables": len(result.rows), "strict": strict, "dialect": url.split(":")[0]},
        )
        state.db.session.commit()
