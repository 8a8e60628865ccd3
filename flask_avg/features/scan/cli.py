"""``flask avg scan``."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app


def register(group: Any) -> None:
    @group.command("scan")
    @click.option(
        "--sample", type=click.IntRange(1), help="Read only the first N rows of every table."
    )
    @click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
    @click.option("--table", "tables", multiple=True, help="Scan only this table (repeatable).")
    @click.option(
        "--ignore", multiple=True, metavar="TABLE[.COLUMN]", help="Reviewed: not personal."
    )
    @click.option("--all", "everything", is_flag=True, help="List columns with nothing found too.")
    @click.option("--strict", is_flag=True, help="Exit 1 when undeclared personal data is found.")
    def scan_command(
        sample: int | None,
        batch_size: int,
        tables: tuple[str, ...],
        ignore: tuple[str, ...],
        everything: bool,
        strict: bool,
    ) -> None:
        """Find personal data in every text column of the database, declared or not."""
        from flask_avg.features.scan.detect import MissingLibraries
        from flask_avg.features.scan.service import render, scan

        try:
            report = scan(
                current_app.extensions["avg"],
                sample=sample,
                batch_size=batch_size,
                tables=tables,
                ignore=ignore,
            )
        except MissingLibraries as exc:
            raise click.ClickException(str(exc)) from None
        for line in render(report, everything=everything):
            click.echo(line)
        if strict and report.undeclared:
            raise SystemExit(1)
