"""``flask avg anonymised-copy``, run as a job (``safecopy``).

The target URL may carry a password: the job's row keeps it with the password
masked, and the real URL is handed to the job in this process only, so a
failed copy is made again by running the command again, not by a retry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from flask import current_app

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jobs import JobContext, JobFailed, Kind, run_in_cli

if TYPE_CHECKING:
    from flask_avg.extension import AvgState
    from flask_avg.features.safecopy.service import CopyResult

KIND = "safecopy"
#: job id -> the target URL, password included (never written to the database)
_TARGETS: dict[str, str] = {}


def register_kind(state: AvgState) -> None:
    """Make the anonymised copy a job kind (the safecopy plugin's ``init_app``)."""
    state.jobs.register(
        Kind(KIND, run=run, action="avg.acl.manage", label=_l("Anonymised copy of the database"))
    )


def masked(url: str) -> str:
    """The URL as the job's row keeps it: no password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL: the copy says so itself
        return "(not a database URL)"


def run(ctx: JobContext) -> CopyResult:
    """Make the copy (one step: the service reports no progress of its own)."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from flask_avg.features.safecopy.service import CopyError, anonymised_copy

    state: AvgState = current_app.extensions["avg"]
    url = _TARGETS.pop(ctx.job_id, None)
    if url is None:
        raise JobFailed("the target URL is not kept: run flask avg anonymised-copy again")
    params = ctx.params
    ctx.progress(0, 1)
    try:
        result = anonymised_copy(
            state, url, strict=bool(params.get("strict")), batch_size=int(params["batch_size"])
        )
    except ArgumentError:
        raise JobFailed(f"not a database URL: {params.get('to')!r}") from None
    except OperationalError as exc:
        raise JobFailed(f"cannot reach the target database: {exc.orig}") from None
    except CopyError as exc:
        raise JobFailed(str(exc)) from None
    ctx.progress(1, 1)
    state.audit.record(
        "safecopy.made",
        actor=ctx.owner,
        detail={
            "tables": len(result.rows),
            "strict": bool(params.get("strict")),
            "dialect": url.split(":")[0],
        },
    )
    state.db.session.commit()
    return result


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
        state = current_app.extensions["avg"]
        params = {"to": masked(url), "strict": strict, "batch_size": batch_size}
        job = state.jobs.create(KIND, owner=None, params=params)
        state.db.session.commit()
        _TARGETS[job.id] = url
        try:
            _job, result = run_in_cli(KIND, label="copying", job=job)
        finally:
            _TARGETS.pop(job.id, None)
        if strict:
            for name in result.blanked:
                click.echo(f"blanked: {name}")
        click.echo(
            f"{sum(result.rows.values())} row(s) in {len(result.rows)} table(s) copied; "
            f"{len(result.anonymised)} column(s) anonymised, {len(result.blanked)} blanked, "
            f"{len(result.emptied)} of flask-avg's table(s) left empty."
        )
        if result.keys:
            # the copy's own throw-away key: the production keys never reach the copy
            click.echo(f"AVG_ENCRYPTION_KEYS for the copy: {result.keys}")
