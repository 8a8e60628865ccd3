"""``flask avg scan``, run as a job (``scan``): progress per group of tables, the
report kept as the job's private, expiring result file."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import click
from flask import current_app

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jobs import JobContext, JobFailed, Kind, run_in_cli

if TYPE_CHECKING:
    from flask_avg.extension import AvgState
    from flask_avg.features.scan.service import ScanReport

KIND = "scan"
#: the scan reports progress this many times at most (each step reads the schema once)
STEPS = 10


def register_kind(state: AvgState) -> None:
    """Make the scan a job kind (the scan plugin's ``init_app``)."""
    state.jobs.register(
        Kind(
            KIND,
            run=run,
            action="avg.register.manage",
            label=_l("Scan for personal data"),
            # the report's examples are masked values of anybody: any erasure removes it
            all_subjects=True,
        )
    )


def run(ctx: JobContext) -> ScanReport:
    """Scan the tables the job's parameters name (all by default), a group of tables
    at a time so the job reports its progress; the report is the result file."""
    from sqlalchemy import inspect

    from flask_avg.features.scan.detect import MissingLibraries
    from flask_avg.features.scan.service import ScanReport, render, scan

    state: AvgState = current_app.extensions["avg"]
    params = ctx.params
    wanted = set(params.get("tables") or ())
    names = sorted(n for n in inspect(state.db.engine).get_table_names() if n != "alembic_version")
    names = [n for n in names if not wanted or n in wanted]
    size = max(1, -(-len(names) // STEPS))
    groups = [names[i : i + size] for i in range(0, len(names), size)]
    report = ScanReport()
    ctx.progress(0, len(names))
    done = 0
    for group in groups:
        try:
            part = scan(
                state,
                sample=params.get("sample"),
                batch_size=int(params.get("batch_size") or 1000),
                tables=group,
                ignore=tuple(params.get("ignore") or ()),
            )
        except MissingLibraries as exc:
            raise JobFailed(str(exc)) from None
        report.tables += part.tables
        report.values += part.values
        report.seconds += part.seconds
        report.columns.extend(part.columns)
        done += len(group)
        ctx.progress(done, len(names))
    with ctx.result_file("scan-report.txt", "text/plain; charset=utf-8") as out:
        lines = render(report, everything=bool(params.get("everything")))
        out.write(("\n".join(lines) + "\n").encode())
    return report


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
    @click.option(
        "-o", "--output", type=click.Path(dir_okay=False), help="Also write the report to FILE."
    )
    def scan_command(
        sample: int | None,
        batch_size: int,
        tables: tuple[str, ...],
        ignore: tuple[str, ...],
        everything: bool,
        strict: bool,
        output: str | None,
    ) -> None:
        """Find personal data in every text column of the database, declared or not."""
        from flask_avg.features.scan.service import render

        state = current_app.extensions["avg"]
        params = {
            "sample": sample,
            "batch_size": batch_size,
            "tables": list(tables),
            "ignore": list(ignore),
            "everything": everything,
        }
        job, report = run_in_cli(KIND, params, label="scanning")
        for line in render(report, everything=everything):
            click.echo(line)
        path = state.jobs.result_path(job)
        if output and path is not None:
            shutil.copyfile(path, output)
            state.audit.record(
                "jobs.download", detail={"job": job.id, "kind": job.kind, "file": output}
            )
            state.db.session.commit()
        if strict and report.undeclared:
            raise SystemExit(1)
