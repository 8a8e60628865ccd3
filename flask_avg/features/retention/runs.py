"""Purge runs: every real purge leaves a row, so anyone can see that the purge runs.

A run's row is written when it starts, updated with every committed batch (in
the batch's own transaction, so progress never claims rows that were rolled
back) and closed with its outcome. :func:`status` reads the last runs for the
retention page, the dashboard and the JSON progress endpoint: the last finished
run, one running now, the next scheduled run (``AVG_PURGE_SCHEDULE``) and
whether the purge has been silent for too long.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from flask_avg.core.config import ConfigurationError, config_value
from flask_avg.core.jobs import Job, JobContext
from flask_avg.core.types import utcnow
from flask_avg.features.retention.lock import TTL
from flask_avg.features.retention.models import PurgeRun

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

RUN: Any = PurgeRun.__table__
#: the job kind of a purge (the board's "purge now", ``flask avg purge``)
JOB_KIND = "retention.purge"
#: no finished purge for this long: the page and the dashboard warn
SILENT = timedelta(days=2)
#: a "running" or "queued" row whose beat stopped this long ago was cut off
#: (the process died): as long as the lock row may live
CUT_OFF = TTL
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def schedule_times(value: Any = None) -> list[time]:
    """``AVG_PURGE_SCHEDULE`` as sorted times of day: ``"03:00"``, ``"03:00,15:00"`` or a
    list of such strings; raises :class:`ConfigurationError` for anything else."""
    raw = config_value("PURGE_SCHEDULE") if value is None else value
    items = raw.split(",") if isinstance(raw, str) else list(raw or ())
    out: list[time] = []
    for item in items:
        found = _TIME.match(str(item).strip())
        if not found:
            raise ConfigurationError(
                f'AVG_PURGE_SCHEDULE: {item!r} is not a time of day such as "03:00"'
            )
        out.append(time(int(found.group(1)), int(found.group(2))))
    if not out:
        raise ConfigurationError('AVG_PURGE_SCHEDULE needs at least one time, such as "03:00"')
    return sorted(set(out))


def next_run(now: datetime | None = None, times: list[time] | None = None) -> datetime:
    """The next time cron is expected to run ``flask avg purge``: the first scheduled
    time of day (the server's local time, like cron) after ``now``; aware, in UTC."""
    now = (now or utcnow()).astimezone()  # the server's local zone, as cron reads it
    times = times or schedule_times()
    for days in range(0, 3):
        day = now.date() + timedelta(days=days)
        for at in times:
            # combine in local time, then let the zone's offset on that day apply
            when = datetime.combine(day, at).astimezone()
            if when > now:
                return when.astimezone(UTC)
    raise AssertionError("unreachable: a daily schedule always has a next time")


# -- writing -------------------------------------------------------------------


def open_run(
    state: AvgState,
    *,
    trigger: str,
    actor: str | None,
    as_of: date,
    status: str = "running",
    total: int = 0,
) -> int:
    """Insert a run row and commit it at once (so others see it); returns its id."""
    session = state.db.session
    now = utcnow()
    row = PurgeRun(
        started_at=now,
        beat_at=now,
        trigger=trigger,
        actor=actor,
        status=status,
        as_of=as_of,
        done_rows=0,
        total_rows=total,
        batches=0,
    )
    session.add(row)
    session.commit()
    return int(row.id)


#: runs carried out by a job (run id -> the job's context): their progress is the job's
_JOBS: dict[int, JobContext] = {}


@contextmanager
def linked(run_id: int, ctx: JobContext) -> Iterator[None]:
    """While the purge of run ``run_id`` runs as job ``ctx``, every progress report of
    the run is the job's progress too, in the same transaction."""
    _JOBS[run_id] = ctx
    try:
        yield
    finally:
        _JOBS.pop(run_id, None)


def progress(session: Any, run_id: int, done: int, batches: int, total: int | None = None) -> None:
    """Progress in the caller's transaction (the batch's: committed with it); the
    run's job, when it has one, reports the same progress in the same transaction."""
    values: dict[str, Any] = {"done_rows": done, "batches": batches, "beat_at": utcnow()}
    if total is not None:
        values.update(total_rows=total, status="running")
    session.execute(update(RUN).where(RUN.c.id == run_id).values(values))
    ctx = _JOBS.get(run_id)
    if ctx is not None:
        ctx.progress_in(session, done, total)


def reopen(state: AvgState, run_id: int) -> None:
    """A finished run tried again (its job retried): queued afresh, outcome cleared."""
    session = state.db.session
    values: dict[str, Any] = {
        "status": "queued",
        "beat_at": utcnow(),
        "finished_at": None,
        "error": None,
        "counts_json": None,
        "done_rows": 0,
        "batches": 0,
    }
    session.execute(update(RUN).where(RUN.c.id == run_id).values(values))
    session.commit()


def job_params(run_id: int, *, wait: float, actor: str | None) -> dict[str, Any]:
    """The purge job's parameters: the run first, so :func:`job_of` finds the job."""
    return {"run": int(run_id), "wait": float(wait), "who": actor}


def job_of(state: AvgState, run_id: int) -> Job | None:
    """The job that carries out run ``run_id`` (None: a run of the host's code)."""
    prefix = json.dumps({"run": int(run_id)})[:-1] + ","
    return state.db.session.scalars(
        select(Job)
        .where(Job.kind == JOB_KIND, Job.params_json.startswith(prefix, autoescape=True))
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()


def close_run(
    session: Any, run_id: int, outcome: str, counts: dict[str, Any] | None = None, error: Any = None
) -> None:
    """The run's outcome, in the caller's transaction."""
    values: dict[str, Any] = {"status": outcome, "finished_at": utcnow(), "beat_at": utcnow()}
    if counts is not None:
        values["counts_json"] = json.dumps(counts, sort_keys=True)
    if error is not None:
        values["error"] = f"{type(error).__name__}: {error}"[:200]
    session.execute(update(RUN).where(RUN.c.id == run_id).values(values))


def fail_run(state: AvgState, run_id: int, outcome: str, error: Any = None) -> None:
    """Close a run that did not finish (``"failed"``, ``"skipped"``) and commit."""
    session = state.db.session
    session.rollback()
    close_run(session, run_id, outcome, error=error)
    session.commit()


# -- reading -------------------------------------------------------------------


@dataclass
class RunView:
    """One run as the pages show it."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    actor: str | None
    #: "queued", "running", "done", "failed", "skipped" or "interrupted" (the beat stopped)
    status: str
    as_of: date
    done_rows: int
    total_rows: int
    batches: int
    #: per category: {"deleted": n, "anonymised": n, "kept": n}
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    audit_entries_dropped: int = 0
    stale_accounts: int = 0
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def percent(self) -> int:
        """Progress in whole percent; 100 only once the run is over."""
        if not self.active:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(100 * self.done_rows / self.total_rows))

    @property
    def deleted(self) -> int:
        return sum(c.get("deleted", 0) for c in self.categories.values())

    @property
    def anonymised(self) -> int:
        return sum(c.get("anonymised", 0) for c in self.categories.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "active": self.active,
            "percent": self.percent,
            "done_rows": self.done_rows,
            "total_rows": self.total_rows,
            "batches": self.batches,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "deleted": self.deleted,
            "anonymised": self.anonymised,
            "categories": self.categories,
        }


def _view(row: PurgeRun, now: datetime) -> RunView:
    counts = json.loads(row.counts_json) if row.counts_json else {}
    status = row.status
    if status in ("queued", "running") and now - row.beat_at > CUT_OFF:
        status = "interrupted"
    return RunView(
        id=int(row.id),
        started_at=row.started_at,
        finished_at=row.finished_at,
        trigger=row.trigger,
        actor=row.actor,
        status=status,
        as_of=row.as_of,
        done_rows=row.done_rows,
        total_rows=row.total_rows,
        batches=row.batches,
        categories=counts.get("categories", {}),
        audit_entries_dropped=int(counts.get("audit_entries_dropped", 0)),
        stale_accounts=int(counts.get("stale_accounts", 0)),
        error=row.error,
    )


def get_run(state: AvgState, run_id: int) -> RunView | None:
    row = state.db.session.get(PurgeRun, run_id, populate_existing=True)
    return _view(row, utcnow()) if row is not None else None


@dataclass
class PurgeStatus:
    """What the retention page and the dashboard say about the purge."""

    #: the last run that finished (done or failed), newest first
    last: RunView | None
    #: the last run that finished successfully
    last_done: RunView | None
    #: a run queued or under way now
    running: RunView | None
    #: when cron is next expected to run ``flask avg purge`` (UTC)
    next_run: datetime
    #: no successful purge for two days (or ever): something is wrong with cron
    warning: bool
    #: the last few runs, newest first
    recent: list[RunView] = field(default_factory=list)


def status(state: AvgState, *, now: datetime | None = None, recent: int = 5) -> PurgeStatus:
    """The purge's state for a page: last run, running run, next run, warning.

    Two small queries (the last runs, the last successful one).
    """
    now = now or utcnow()
    session = state.db.session
    fresh = {"populate_existing": True}  # another process or thread writes these rows
    rows = session.scalars(
        select(PurgeRun).order_by(PurgeRun.id.desc()).limit(recent).execution_options(**fresh)
    ).all()
    views = [_view(r, now) for r in rows]
    running = next((v for v in views if v.active), None)
    last = next((v for v in views if v.status in ("done", "failed", "interrupted")), None)
    last_done = next((v for v in views if v.status == "done"), None)
    if last_done is None:
        found = session.scalars(
            select(PurgeRun).where(PurgeRun.status == "done").order_by(PurgeRun.id.desc()).limit(1)
        ).first()
        last_done = _view(found, now) if found is not None else None
    silent = last_done is None or now - (last_done.finished_at or last_done.started_at) > SILENT
    return PurgeStatus(
        last=last,
        last_done=last_done,
        running=running,
        next_run=next_run(now),
        warning=silent and running is None,
        recent=views,
    )


def checklist_line(state: AvgState, *, now: datetime | None = None) -> Any:
    """The security checklist's purge line: fails while no purge has finished, or
    the last one finished more than two days ago (the same runs, and the same two
    days, as the retention page's warning)."""
    from flask_avg.core.checklist import FAIL, OK, CheckLine
    from flask_avg.core.i18n import lazy_gettext as _l

    label = _l("Retention purge")
    now = now or utcnow()
    last = status(state, now=now).last_done
    if last is None:
        advice = _l("The purge has never run: schedule flask avg purge daily (cron or a worker).")
        return CheckLine("purge", label, FAIL, advice)
    if now - (last.finished_at or last.started_at) > SILENT:
        advice = _l(
            "The last purge ran more than two days ago: is the daily job "
            "(flask avg purge) still scheduled?"
        )
        return CheckLine("purge", label, FAIL, advice)
    return CheckLine("purge", label, OK)
