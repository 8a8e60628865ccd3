"""Background jobs: long work with its state in the database, run by a small runner.

A job (:class:`Job`, table ``avg_job``) is a row saying what to do (``kind`` and
JSON ``params``), for whom (``owner``, a login account key), how far it got
(``progress`` of ``total``), what came of it (a private result file) and when
that goes (``expires_at``). The state lives in the database, never only in a
queue or a cache: a page, the CLI and another process all read the same row.

What a kind of job does is registered once (:meth:`Jobs.register`, usually by a
plugin in ``init_app``); how it is run is the runner's business
(:func:`runner_for`):

* no queue configured: the CLI runs a job inline, a page in a background thread
  of the web process (the embedded default: nothing more to install);
* ``AVG_JOB_QUEUE = "rq://127.0.0.1:6379/0"`` (or a ``redis://`` URL): RQ on
  Redis; a worker runs ``flask avg jobs worker``;
* Celery: a task that calls :func:`perform` with the job's id (see ``docs/jobs.rst``).

A job whose worker died stops sending heartbeats; :meth:`Jobs.reap` marks it
failed, and a failed job can be retried (:meth:`Jobs.retry`).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from flask import Flask, current_app
from sqlalchemy import Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from flask_avg.core.models import AvgBase
from flask_avg.core.types import UTCDateTime, utcnow

QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
#: the states a job can be retried from
RETRYABLE = (FAILED,)
#: a progress report writes the row at most this often (seconds), besides the last one
HEARTBEAT = 2.0
#: the longest params and error kept
MAX_PARAMS = 4000
MAX_ERROR = 2000


class Job(AvgBase):
    """One background job and its result file."""

    __tablename__ = "avg_job"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    #: the data subject the result is about (None: several, or none)
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=QUEUED, index=True)
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    params_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    #: the result file's name inside ``AVG_JOB_DIR`` (random, never shown)
    result_path: Mapped[str | None] = mapped_column(String(128))
    #: the name the download is offered under
    result_name: Mapped[str | None] = mapped_column(String(128))
    result_type: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json or "{}")  # type: ignore[no-any-return]

    @property
    def percent(self) -> int:
        if self.status == DONE:
            return 100
        if not self.total:
            return 0
        return max(0, min(100, self.progress * 100 // self.total))

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED, EXPIRED)


class JobFailed(RuntimeError):
    """Raised by a job to fail with a message meant for the person who started it."""


@dataclass(frozen=True)
class Kind:
    """What one kind of job does.

    ``run(ctx)`` does the work, reporting progress through ``ctx`` and writing its
    result with ``ctx.result_file``. ``action`` is the ACL action needed to see the
    job and download its result (besides being its owner). ``all_subjects``: the
    result holds data of every subject (a member list), so any erasure removes it.
    ``link(job)``: a page of the kind's own that shows what the job did (the purge
    run's page), or None. ``on_failed(session, job)``: told, inside the caller's
    transaction, when :meth:`Jobs.reap` marks the job failed (its worker died), so
    the kind's own record of the work says so too.
    """

    name: str
    run: Callable[[JobContext], Any]
    action: str
    label: Any = None
    all_subjects: bool = False
    link: Callable[[Job], str | None] | None = None
    on_failed: Callable[[Session, Job], None] | None = None


class JobContext:
    """What a running job sees: its parameters, a progress reporter and its result file."""

    def __init__(self, jobs: Jobs, job: Job) -> None:
        self.jobs = jobs
        self.job_id = job.id
        self.params = job.params
        self.owner = job.owner
        self._last = 0.0
        self._path: Path | None = None
        #: the last total reported (a report may leave it out)
        self.total: int | None = None
        #: called with ``(done, total)`` on every report (the CLI's progress bar)
        self.listener: Callable[[int, int | None], None] | None = None

    def _tell(self, done: int, total: int | None) -> int | None:
        if total is not None:
            self.total = total
        if self.listener is not None:
            self.listener(done, self.total)
        return self.total

    def progress(self, done: int, total: int | None = None) -> None:
        """Report ``done`` of ``total`` units; committed in a transaction of its own,
        at most every :data:`HEARTBEAT` seconds (the last report always)."""
        import time

        total = self._tell(done, total)
        now = time.monotonic()
        last = total is not None and done >= total
        if not last and now - self._last < HEARTBEAT:
            return
        self._last = now
        self.jobs._write(self.job_id, progress=done, total=total, heartbeat_at=utcnow())

    def progress_in(self, session: Session, done: int, total: int | None = None) -> None:
        """Report progress inside ``session``'s transaction, committed with the work it
        counts (a purge batch): never claims work that was rolled back, and on SQLite
        never waits for the write lock that transaction holds."""
        total = self._tell(done, total)
        table: Any = Job.__table__
        values: dict[str, Any] = {"progress": done, "heartbeat_at": utcnow()}
        if total is not None:
            values["total"] = total
        session.execute(update(table).where(table.c.id == self.job_id).values(**values))

    def beat(self) -> None:
        """A heartbeat without progress (waiting for a lock): the job is alive."""
        self.jobs._write(self.job_id, heartbeat_at=utcnow())

    def result_file(self, name: str, content_type: str) -> IO[bytes]:
        """Open the job's private result file for writing; ``name`` is what the
        download is called. The file gets a random name in ``AVG_JOB_DIR``."""
        folder = self.jobs.folder()
        stored = f"{secrets.token_urlsafe(24)}{Path(name).suffix[:10]}"
        self._path = folder / stored
        self.jobs._write(
            self.job_id, result_path=stored, result_name=name, result_type=content_type
        )
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return os.fdopen(fd, "wb")


class Runner(Protocol):
    """Runs a queued job somewhere: :func:`perform` with the job's id, in an app context.

    ``submit`` may return a handle on the work (the thread runner's thread)."""

    def submit(self, app: Flask, job_id: str) -> Any: ...


class InlineRunner:
    """Runs the job now, in this thread (the CLI, tests)."""

    def submit(self, app: Flask, job_id: str) -> None:
        perform(job_id, app)


class ThreadRunner:
    """Runs the job in a background thread of this process (the web default).

    Fine for a club site; a job dies with its process (a deploy, a restart): the
    heartbeat stops and :meth:`Jobs.reap` marks it failed, retryable.
    """

    def submit(self, app: Flask, job_id: str) -> threading.Thread:
        thread = threading.Thread(
            target=perform, args=(job_id, app), name=f"avg-job-{job_id[:8]}", daemon=True
        )
        thread.start()
        return thread


class RqRunner:
    """Enqueues the job on an RQ queue in Redis; ``flask avg jobs worker`` runs it."""

    def __init__(self, url: str) -> None:
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        if url.startswith("rq://"):
            url = "redis://" + url.removeprefix("rq://")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        #: the RQ queue's name: ``?queue=`` in the URL, by default ``avg``
        self.queue = query.pop("queue", "avg")
        self.url = urlunsplit(parts._replace(query=urlencode(query)))

    def connection(self) -> Any:
        from redis import Redis

        return Redis.from_url(self.url)

    def submit(self, app: Flask, job_id: str) -> None:
        from rq import Queue

        queue = Queue(self.queue, connection=self.connection())
        queue.enqueue(perform, job_id, job_timeout=-1, result_ttl=0, failure_ttl=3600)


def runner_for(app: Flask, *, web: bool) -> Runner:
    """The runner ``AVG_JOB_QUEUE`` names; without one, a thread for pages and inline for the CLI."""
    url = app.config.get("AVG_JOB_QUEUE")
    if url:
        if str(url).startswith(("rq://", "redis://", "rediss://", "unix://")):
            return RqRunner(str(url))
        from flask_avg.core.config import ConfigurationError

        raise ConfigurationError(
            f"AVG_JOB_QUEUE {url!r}: give a Redis URL for RQ (rq://host:6379/0); "
            "for Celery leave it empty and see docs/jobs.rst"
        )
    return ThreadRunner() if web else InlineRunner()


class Jobs:
    """``state.jobs``: start, follow, retry and expire jobs of one app."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session = session_factory
        self.kinds: dict[str, Kind] = {}
        #: a runner of the host's own for every job a page starts (Celery); None: the
        #: one ``AVG_JOB_QUEUE`` names (:func:`runner_for`)
        self.runner: Runner | None = None
        from flask_avg.core.i18n import lazy_gettext as _l

        # the kernel's own long work; features register theirs in their ``init_app``
        self.register(
            Kind(ROTATE_KEYS, run=rotate_keys, action="avg.acl.manage", label=_l("Key rotation"))
        )

    @property
    def session(self) -> Session:
        return self._session()

    def register(self, kind: Kind) -> Kind:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind
        return kind

    def folder(self) -> Path:
        """Where result files live: ``AVG_JOB_DIR``, by default ``<instance>/avg-jobs``
        (never under a static folder), made private (0700) on first use."""
        folder = Path(
            current_app.config.get("AVG_JOB_DIR") or Path(current_app.instance_path) / "avg-jobs"
        )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    def create(
        self,
        kind: str,
        *,
        owner: str | None,
        subject: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Job:
        """A queued job in the caller's transaction; :meth:`start` after the commit."""
        if kind not in self.kinds:
            raise KeyError(f"unknown job kind {kind!r}")
        encoded = json.dumps(params or {}, sort_keys=True, default=str)
        if len(encoded) > MAX_PARAMS:
            raise ValueError("job parameters too long")
        job = Job(
            id=uuid.uuid4().hex,
            kind=kind,
            owner=owner,
            subject=subject,
            status=QUEUED,
            progress=0,
            params_json=encoded,
            attempts=0,
        )
        self.session.add(job)
        return job

    def start(self, job: Job | str, *, web: bool = True, runner: Runner | None = None) -> Any:
        """Hand a committed job to the runner (``runner`` or the configured one); returns
        the runner's handle (the thread runner's thread, else None)."""
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        job_id = job if isinstance(job, str) else job.id
        return (runner or self.runner or runner_for(app, web=web)).submit(app, job_id)

    def run_inline(
        self, job: Job | str, listener: Callable[[int, int | None], None] | None = None
    ) -> tuple[Job | None, Any]:
        """Run a committed job now, in this thread (a CLI command): ``listener`` hears
        every progress report. Returns the job's final row (None if it was removed) and
        what the kind's ``run`` returned (None when it failed: the row says why)."""
        job_id = job if isinstance(job, str) else job.id
        value = _perform(job_id, listener, own_session=False)
        session = self.session
        session.commit()  # a new transaction sees the job's last writes (MariaDB's snapshot)
        return session.get(Job, job_id, populate_existing=True), value

    def get(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or len(job_id) != 32 or not job_id.isalnum():
            return None
        return self.session.get(Job, job_id)

    def retry(self, job: Job) -> bool:
        """Queue a failed job again, in the caller's transaction; False if not failed."""
        if job.status not in RETRYABLE:
            return False
        self._remove_file(job)
        job.status, job.progress, job.error = QUEUED, 0, None
        job.started_at = job.heartbeat_at = job.finished_at = job.expires_at = None
        return True

    def reap(self, stale_seconds: float | None = None) -> int:
        """Mark failed every running job whose worker went silent; returns how many.

        A running job reports at least every few seconds (``ctx.progress``); one
        without a heartbeat for ``AVG_JOB_STALE_SECONDS`` died with its worker.
        """
        seconds = (
            stale_seconds
            if stale_seconds is not None
            else float(current_app.config["AVG_JOB_STALE_SECONDS"])
        )
        cutoff = utcnow() - timedelta(seconds=seconds)
        stale = [Job.status == RUNNING, Job.heartbeat_at < cutoff]
        session = self.session
        told = [k.name for k in self.kinds.values() if k.on_failed is not None]
        found = list(session.scalars(select(Job).where(*stale, Job.kind.in_(told)))) if told else []
        done = session.execute(
            update(Job)
            .where(*stale)
            .values(status=FAILED, error="the worker stopped", finished_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
        session.expire_all()
        for job in found:
            hook = self.kinds[job.kind].on_failed
            if hook is not None:
                hook(session, job)
        return int(getattr(done, "rowcount", 0) or 0)

    def expire(self, now: datetime | None = None) -> int:
        """Remove every result past its expiry (file and link); returns how many."""
        now = now or utcnow()
        found = list(
            self.session.scalars(
                select(Job).where(Job.status == DONE, Job.expires_at <= now).order_by(Job.id)
            )
        )
        for job in found:
            self._remove_file(job)
            job.status = EXPIRED
        return len(found)

    def forget(self, jobs: list[Job]) -> int:
        """Delete jobs and their result files (an erasure); in the caller's transaction."""
        for job in jobs:
            self._remove_file(job)
            self.session.delete(job)
        return len(jobs)

    def result_path(self, job: Job) -> Path | None:
        """The result file of a finished, unexpired job, or None."""
        if job.status != DONE or not job.result_path:
            return None
        if job.expires_at is not None and job.expires_at <= utcnow():
            return None
        path = self.folder() / job.result_path
        return path if path.is_file() else None

    def _remove_file(self, job: Job) -> None:
        if job.result_path:
            (self.folder() / job.result_path).unlink(missing_ok=True)
            job.result_path = None

    def _write(self, job_id: str, **values: Any) -> int:
        """Update the job's row in a transaction of its own (a connection apart from
        the job's session, so progress shows while the job's work is uncommitted)."""
        engine: Any = self.session.get_bind(clause=Job.__table__)
        table: Any = Job.__table__
        with engine.begin() as conn:
            done = conn.execute(update(table).where(table.c.id == job_id).values(**values))
        return int(done.rowcount or 0)


#: the kernel's job kind re-encrypting every encrypted column (``flask avg rotate-keys``)
ROTATE_KEYS = "crypto.rotate"


def rotate_keys(ctx: JobContext) -> dict[str, Any]:
    """Re-encrypt every encrypted column under the primary key, ``params["batch_size"]``
    rows per transaction, reporting values done of those pending. Returns the key,
    the columns, the values re-encrypted and those left (changed meanwhile)."""
    from flask_avg.core import crypto

    state = current_app.extensions["avg"]
    keyring = state.keyring
    if keyring is None:
        raise JobFailed("no encryption keys: set AVG_ENCRYPTION_KEYS")
    try:
        plan = crypto.rotation_plan(state.db)
    except crypto.CryptoError as err:
        raise JobFailed(str(err)) from None
    batch_size = int(ctx.params.get("batch_size") or 1000)
    todo = {item.name: crypto.pending(item, keyring) for item in plan}
    total = sum(todo.values())
    seen = done = 0
    ctx.progress(0, total)

    def step(rows: int) -> None:
        nonlocal seen
        seen += rows
        ctx.progress(min(seen, total), total)

    for item in plan:
        if todo[item.name]:
            done += crypto.rotate_column(item, keyring, batch_size=batch_size, on_batch=step)
    left = sum(crypto.pending(item, keyring) for item in plan)
    ctx.progress(total, total)
    return {"key": keyring.primary, "columns": len(plan), "done": done, "left": left}


def perform(job_id: str, app: Flask | None = None) -> None:
    """Run job ``job_id`` to its end (what every runner calls).

    Claims the job (queued or failed-and-retried to running, once), runs its kind,
    and records the outcome: done with an expiry, or failed with the error. Never
    raises for a failure of the job itself: the row says what happened.
    """
    if app is None:
        _perform(job_id)
        return
    with app.app_context():
        _perform(job_id)


def _perform(
    job_id: str,
    listener: Callable[[int, int | None], None] | None = None,
    *,
    own_session: bool = True,
) -> Any:
    """Run the job; returns what its kind's ``run`` returned (None when it failed).
    ``own_session``: the job's session ends with it (a worker, a thread); inline in a
    command the command's session goes on."""
    state = current_app.extensions["avg"]
    jobs: Jobs = state.jobs
    session = jobs.session
    claimed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == QUEUED)
        .values(
            status=RUNNING, started_at=utcnow(), heartbeat_at=utcnow(), attempts=Job.attempts + 1
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    if not getattr(claimed, "rowcount", 0):
        return None  # gone, or another worker has it
    job = session.get(Job, job_id)
    assert job is not None
    kind = jobs.kinds.get(job.kind)
    ctx = JobContext(jobs, job)
    ctx.listener = listener
    value: Any = None
    stale = float(current_app.config["AVG_JOB_STALE_SECONDS"])
    pulse = _Pulse(session.get_bind(clause=Job.__table__), job_id, max(1.0, stale / 4))
    try:
        if kind is None:
            raise JobFailed(f"unknown job kind {job.kind!r}")
        value = kind.run(ctx)
        session.commit()
    except Exception as exc:  # the job's own failure: recorded, not raised
        session.rollback()
        if ctx._path is not None:
            ctx._path.unlink(missing_ok=True)
        message = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
        jobs._write(
            job_id, status=FAILED, error=message[:MAX_ERROR], finished_at=utcnow(), result_path=None
        )
        current_app.logger.exception("flask-avg job %s (%s) failed", job_id, job.kind)
        value = None
    else:
        hours = float(current_app.config["AVG_JOB_RESULT_HOURS"])
        now = utcnow()
        kept = jobs._write(
            job_id,
            status=DONE,
            finished_at=now,
            heartbeat_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        if not kept and ctx._path is not None:
            # an erasure removed the job meanwhile: its result may hold the erased
            ctx._path.unlink(missing_ok=True)
    finally:
        pulse.stop()
        if own_session:
            state.db.session.remove()
    return value


class _Pulse:
    """A running job's heartbeat every ``interval`` seconds from a thread of its own,
    so a long step without progress (one large table scanned, a copy) is not taken for
    a dead worker; it stops with the process, so a killed worker still goes stale."""

    def __init__(self, engine: Any, job_id: str, interval: float) -> None:
        self._engine, self._job_id, self._interval = engine, job_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"avg-job-pulse-{job_id[:8]}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        table: Any = Job.__table__
        while not self._stop.wait(self._interval):
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        update(table)
                        .where(table.c.id == self._job_id, table.c.status == RUNNING)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # noqa: BLE001, S112 - a busy database: the next beat tries again
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def run_in_cli(
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    label: str,
    subject: str | None = None,
    check: bool = True,
    job: Job | None = None,
) -> tuple[Job, Any]:
    """What a ``flask avg`` command does with long work: create the job (owner None:
    the command line), run it inline with click's progress bar fed from the job's
    progress, and return its final row and the kind's return value. A failed job
    ends the command with its error and how to retry it (``check=False``: returned,
    for the command to say so itself). ``job``: one the command created (committed)."""
    import click

    jobs: Jobs = current_app.extensions["avg"].jobs
    if job is None:
        job = jobs.create(kind, owner=None, subject=subject, params=params)
        jobs.session.commit()
    job_id = job.id
    # on a terminal click's bar, redrawn in place; in a log (cron) a line per tenth
    tty = sys.stdout.isatty()
    with click.progressbar(length=100, label=label, show_percent=True, show_eta=False) as bar:
        shown = 0

        def show(percent: int) -> None:
            nonlocal shown
            if percent <= shown:
                return
            if tty:
                bar.update(percent - shown)
            elif percent // 10 > shown // 10:
                click.echo(f"{label}: {percent // 10 * 10}%")
            shown = percent

        def listener(done: int, total: int | None) -> None:
            show(min(100, done * 100 // total) if total else 0)

        row, value = jobs.run_inline(job_id, listener)
        if row is not None and row.status == DONE:
            show(100)
    if row is None:
        raise click.ClickException("the job was removed while it ran")
    if check and row.status != DONE:
        raise click.ClickException(
            f"job {job_id} {row.status}: {row.error or ''} (flask avg jobs retry {job_id})"
        )
    return row, value
