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
        from flask_avg.features.consent.service import send_expiry_reminders

        state = _state()
        sent = send_expiry_reminders(state, days)
        state.db.session.commit()
        click.echo(f"{sent} consent reminder(s) sent.")

    @group.command("register")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write an .xlsx file.")
    def register_command(output: str | None) -> None:
        """The register of processing activities (Art. 30): print it, or -o FILE.xlsx."""
        from flask_avg.features.accountability import register

        if output:  # a job: its row records it, its result file is audited when copied out
            import shutil

            from flask_avg.core.jobs import run_in_cli
            from flask_avg.features.accountability.register_job import KIND

            state = _state()
            job, _n = run_in_cli(KIND, label="register")
            path = state.jobs.result_path(job)
            if path is None:
                raise click.ClickException("the register's result file is gone")
            shutil.copyfile(path, output)
            state.audit.record(
                "jobs.download", detail={"job": job.id, "kind": job.kind, "file": output}
            )
            state.db.session.commit()
            click.echo(f"Register written to {output}.")
            return
        reg = register.build(_state())
        for act in reg.activities:
            click.echo(act.purpose)
            click.echo("  basis: " + "; ".join(str(b) for b in act.bases))
            click.echo("  data: " + ", ".join(str(c.label) for c in act.categories))
            for line in act.retention:
                click.echo("  retention: " + register.retention_text(line))

    @group.command("annex")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
    def annex_command(output: str | None) -> None:
        """The processor agreement's data annex, as Markdown."""
        from flask_avg.features.accountability import annex, register

        text = annex.to_markdown(register.build(_state()))
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
            click.echo(f"Annex written to {output}.")
        else:
            click.echo(text)

    @group.command("inventory")
    @click.option("--strict", is_flag=True, help="Exit 1 while any table or column is flagged.")
    @click.option(
        "--ignore", multiple=True, metavar="TABLE[.COLUMN]", help="Reviewed: not personal."
    )
    @click.option(
        "--scan",
        "with_scan",
        is_flag=True,
        help="Also read every text column for personal data (flask avg scan); with --strict, "
        "exit 1 when an undeclared column holds some.",
    )
    def inventory_command(strict: bool, ignore: tuple[str, ...], with_scan: bool) -> None:
        """Every table and column in the database, declared or not; flags hidden personal data."""
        from flask_avg.features.accountability import inventory

        inv = inventory.build(_state(), ignore=ignore)
        for line in inventory.render_text(inv):
            click.echo(line)
        tables = len(inv.flagged_tables)
        click.echo(
            f"\n{len(inv.tables)} table(s), {len(inv.flagged)} column(s) and {tables} "
            "table(s) flagged."
        )
        for line in inventory.problems(inv):
            click.echo(f"  {line}", err=True)
        found = False
        if with_scan:
            from flask_avg.features.scan.detect import MissingLibraries
            from flask_avg.features.scan.service import render, scan

            try:
                report = scan(_state(), ignore=ignore)
            except MissingLibraries as exc:
                raise click.ClickException(str(exc)) from None
            click.echo("")
            for line in render(report):
                click.echo(line)
            found = bool(report.undeclared)
        if strict and (not inv.clean or found):
            raise SystemExit(1)
