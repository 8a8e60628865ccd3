"""The retention and erasure engine: purge, erase one subject, ledger, replay.

``from flask_avg.features.retention.service import erase_subject, purge`` is the public entry;
:func:`purge_status` is what a dashboard shows about the purge (last run, next run,
warning), :func:`start_purge` the board's "purge now" as a background job and
:func:`run_purge` the command's purge as a job run in the command.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from flask import current_app

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jobs import Job, JobContext, JobFailed, Kind
from flask_avg.features.retention.engine import ModelCounts
from flask_avg.features.retention.erase import Check, ErasureResult, Outcome, erase_subject
from flask_avg.features.retention.lock import PurgeLocked
from flask_avg.features.retention.plan import erase_setting
from flask_avg.features.retention.purge import PurgeResult, purge
from flask_avg.features.retention.runs import (
    JOB_KIND,
    PurgeStatus,
    RunView,
    get_run,
    job_params,
    open_run,
)
from flask_avg.features.retention.runs import status as _status

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

__all__ = [
    "Check",
    "ErasureResult",
    "ModelCounts",
    "Outcome",
    "PurgeLocked",
    "PurgeResult",
    "PurgeStatus",
    "RunView",
    "confirm_settings",
    "due_condition",
    "erase_subject",
    "erased_condition",
    "get_run",
    "is_confirmed",
    "purge",
    "purge_status",
    "register_job",
    "run_purge",
    "save_settings",
    "start_purge",
]

#: seconds between tries of the purge lock while a job waits for it
LOCK_POLL = 5.0

#: setting holding when (ISO time) the board first confirmed the retention periods
CONFIRMED = "retention.confirmed_at"


def save_settings(
    state: AvgState, days: dict[str, int], erase: dict[str, str], *, actor: str | None
) -> None:
    """Store the board's retention periods (``{category: days}``) and erase choices
    (``{model name: "delete" | "anonymise"}``); audited, committed.

    The periods are the caller's to check against the categories' legal floors.
    """
    for key, value in days.items():
        state.settings.set(f"retention.{key}.days", value, actor=actor)
    for m in state.registry:
        if m.name in erase:
            state.settings.set(erase_setting(m), erase[m.name], actor=actor)
    state.audit.record("retention.settings", detail={"days": days, "erase": erase})
    if not is_confirmed(state):  # saving the periods is confirming them
        _mark_confirmed(state, days, actor)
    state.db.session.commit()


def erased_condition(state: AvgState) -> Any:
    """A condition on the subject table, true for erased rows: the erasure ledger names
    them (its latest entry for the key is not a reused key), or they already hold the
    values anonymising gives. For lists that leave erased people out and for counts."""
    from sqlalchemy import String, and_, cast, exists, false, select

    from flask_avg.features.retention.anonymise import binary_text
    from flask_avg.features.retention.ledger import LEDGER, REUSED
    from flask_avg.features.retention.plan import Plan

    subject = state.registry.subject
    key = cast(subject.primary_key[0], String(64))
    entry, later = LEDGER.alias("avg_entry"), LEDGER.alias("avg_later")
    newer = select(later.c.id).where(
        later.c.model == entry.c.model, later.c.key == entry.c.key, later.c.id > entry.c.id
    )
    named = exists(
        select(entry.c.id).where(
            entry.c.model == subject.name,
            # byte for byte: MariaDB refuses to compare the ledger's collation with
            # the connection's, which the key cast to text has
            binary_text(entry.c.key) == binary_text(key),
            entry.c.action != REUSED,
            ~exists(newer),
        )
    )
    plan = Plan(state, date.today())
    anonymised = ~plan.not_anonymised(subject) if plan.values(subject) else and_(false())
    return named | anonymised


def due_condition(state: AvgState, as_of: date | None = None) -> Any:
    """A condition on the subject table, true for the people the next purge (as of
    ``as_of``, default today) erases: their retention anchor plus the period lies in
    the past and they are not erased yet."""
    from flask_avg.features.retention.plan import Plan

    plan = Plan(state, as_of or date.today())
    return plan.expired(state.registry.subject) & ~erased_condition(state)


def is_confirmed(state: AvgState) -> bool:
    """Has the board confirmed the retention periods once (the first visit's question)?"""
    return bool(state.settings.get(CONFIRMED))


def confirm_settings(state: AvgState, days: dict[str, int], *, actor: str | None) -> None:
    """The board confirms the periods shown (the install defaults or its own): stored,
    audited (``retention.confirmed`` with the days), committed."""
    for key, value in days.items():
        state.settings.set(f"retention.{key}.days", value, actor=actor)
    _mark_confirmed(state, days, actor)
    state.db.session.commit()


def _mark_confirmed(state: AvgState, days: dict[str, int], actor: str | None) -> None:
    from flask_avg.core.types import utcnow

    state.settings.set(CONFIRMED, utcnow().isoformat(timespec="seconds"), actor=actor)
    state.audit.record("retention.confirmed", actor=actor, detail={"days": days})


def purge_status(state: AvgState) -> PurgeStatus:
    """For the dashboard: ``last`` (the last finished run: ``finished_at``, ``trigger``
    ``"scheduled"``/``"board"``/``"api"``, ``actor``, ``status``, ``deleted``,
    ``anonymised``, ``categories``), ``last_done``, ``running`` (with ``percent``),
    ``next_run`` (aware UTC, from ``AVG_PURGE_SCHEDULE``) and ``warning`` (no
    successful purge for two days, or never). Two small queries."""
    return _status(state)


def start_purge(
    state: AvgState, *, actor: str | None, as_of: date | None = None
) -> tuple[int, Any]:
    """The board's "purge now": queue a run row and its job, run by the configured
    runner (a thread of the web process by default, RQ when ``AVG_JOB_QUEUE`` is set).

    Returns the run's id (its progress is in ``avg_purge_run``, see :func:`get_run`,
    and in its job's row) and the runner's handle (the thread; None on a queue, and
    None when a run was already queued or running: its id is returned instead, so a
    second click never starts a second purge). The job takes the purge lock without
    waiting: when cron's purge holds it, the run is closed as ``"skipped"``.
    """
    running = _status(state).running
    if running is not None:
        return running.id, None
    run_id = open_run(
        state, trigger="board", actor=actor, as_of=as_of or date.today(), status="queued"
    )
    job = state.jobs.create(JOB_KIND, owner=actor, params=job_params(run_id, wait=0, actor=actor))
    state.db.session.commit()
    return run_id, state.jobs.start(job)


def run_purge(
    state: AvgState, *, as_of: date | None, actor: str | None, wait: float
) -> tuple[Job, PurgeResult | None]:
    """``flask avg purge``: the scheduled purge as a job run in this process with a
    progress bar; waits up to ``wait`` seconds for a running purge. Returns the job's
    final row and the purge's result (None when it failed; the run is ``"skipped"``
    when the lock stayed taken)."""
    from flask_avg.core.jobs import run_in_cli

    run_id = open_run(
        state, trigger="scheduled", actor=None, as_of=as_of or date.today(), status="queued"
    )
    params = job_params(run_id, wait=wait, actor=actor)
    job, result = run_in_cli(JOB_KIND, params, label="purge", check=False)
    return job, result


def register_job(state: AvgState) -> None:
    """Make the purge a job kind (the retention plugin's ``init_app``)."""
    state.jobs.register(
        Kind(
            JOB_KIND,
            run=_purge_job,
            action="avg.retention.manage",
            label=_l("Purge"),
            link=_run_link,
            on_failed=_job_failed,
        )
    )


def _purge_job(ctx: JobContext) -> PurgeResult:
    """The purge of the job's run: its progress is the job's (:func:`runs.linked`);
    waits ``wait`` seconds at most for the lock, beating meanwhile; a run that stayed
    locked out is ``"skipped"`` and the job failed (retry it to run again)."""
    import time

    from flask_avg.features.retention.models import PurgeRun
    from flask_avg.features.retention.runs import fail_run, linked, reopen

    state: AvgState = current_app.extensions["avg"]
    run_id = int(ctx.params["run"])
    row = state.db.session.get(PurgeRun, run_id)
    if row is None:
        raise JobFailed(f"purge run {run_id} is gone")
    if row.status not in ("queued", "running"):  # a retried job: the same run again
        reopen(state, run_id)
    as_of, trigger = row.as_of, row.trigger
    actor = ctx.params.get("who")
    deadline = time.monotonic() + max(0.0, float(ctx.params.get("wait") or 0))
    with linked(run_id, ctx):
        while True:
            left = deadline - time.monotonic()
            try:
                return purge(
                    state,
                    as_of,
                    actor=actor,
                    wait=min(max(left, 0.0), LOCK_POLL),
                    trigger=trigger,
                    run_id=run_id,
                )
            except PurgeLocked as exc:
                if time.monotonic() >= deadline:
                    fail_run(state, run_id, "skipped", exc)
                    raise JobFailed(str(exc)) from None
                ctx.beat()  # waiting for cron's purge: alive, not stalled


def _run_link(job: Job) -> str | None:
    from flask import url_for

    if "avg_retention.run" not in current_app.view_functions:
        return None
    return url_for("avg_retention.run", run_id=int(job.params["run"]))


def _job_failed(session: Any, job: Job) -> None:
    """The purge's worker died: its run says so at once (not only once its beat is old)."""
    from flask_avg.features.retention.models import PurgeRun
    from flask_avg.features.retention.runs import close_run

    row = session.get(PurgeRun, int(job.params["run"]))
    if row is not None and row.status in ("queued", "running"):
        close_run(session, row.id, "failed", error=RuntimeError("the worker stopped"))
