"""``flask avg jobs ...``: a worker for RQ, the list, retry, expiry, and the member
list exported as a job with a progress bar."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_avg.core.jobs import FAILED, Job, RqRunner, ThreadRunner, runner_for


def _state() -> Any:
    return current_app.extensions["avg"]


def bar(percent: int) -> str:
    """``[#########           ]  45%``"""
    return f"[{'#' * (percent // 5):<20}] {percent:3d}%"


def follow(job_id: str, *, interval: float = 0.2) -> Job:
    """Show a progress bar until job ``job_id`` ends; returns its final row.

    On a terminal the bar is redrawn in place; in a log, a line per change.
    """
    state = _state()
    session = state.db.session
    tty = sys.stdout.isatty()
    shown = -1
    while True:
        session.expire_all()
        job = session.get(Job, job_id)
        if job is None:
            raise click.ClickException("the job is gone")
        if job.status == "running" and state.jobs.reap():
            session.commit()
            continue
        if job.percent != shown:
            shown = job.percent
            click.echo(("\r" if tty else "") + bar(shown), nl=not tty)
        if job.finished:
            session.commit()
            if tty:
                click.echo()
            return job
        session.commit()  # end the read, so the next one sees the worker's progress
        time.sleep(interval)


def register_commands(group: click.Group) -> None:
    @group.group("jobs")
    def jobs() -> None:
        """Background jobs: worker, list, retry, expire."""

    @jobs.command("worker")
    @click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
    @with_appcontext
    def worker(burst: bool) -> None:
        """Run jobs from the RQ queue AVG_JOB_QUEUE names (one at a time, in this process)."""
        runner = runner_for(current_app, web=True)
        if not isinstance(runner, RqRunner):
            click.echo("AVG_JOB_QUEUE names no Redis queue: jobs run without a worker")
            return
        from rq import Queue, SimpleWorker

        connection = runner.connection()
        queue = Queue(runner.queue, connection=connection)
        SimpleWorker([queue], connection=connection).work(burst=burst)

    @jobs.command("list")
    @with_appcontext
    def list_jobs() -> None:
        """The jobs and their state, newest first."""
        from sqlalchemy import select

        state = _state()
        state.jobs.reap()
        state.db.session.commit()
        rows = state.db.session.scalars(select(Job).order_by(Job.created_at.desc()).limit(200))
        for job in rows:
            click.echo(
                f"{job.id}  {job.kind:24s} {job.status:8s} {job.percent:3d}%  {job.error or ''}"
            )

    @jobs.command("retry")
    @click.argument("job_ids", nargs=-1)
    @with_appcontext
    def retry(job_ids: tuple[str, ...]) -> None:
        """Run failed jobs again (the ones named, or every failed one), showing progress."""
        from sqlalchemy import select

        state = _state()
        state.jobs.reap()
        if job_ids:
            found = [state.jobs.get(job_id) for job_id in job_ids]
        else:
            found = list(state.db.session.scalars(select(Job).where(Job.status == FAILED)))
        todo = []
        for job in found:
            if job is None:
                raise click.ClickException("no such job")
            if not state.jobs.retry(job):
                raise click.ClickException(f"job {job.id} is {job.status}, not {FAILED}")
            state.audit.record("jobs.retried", detail={"job": job.id})
            todo.append(job.id)
        state.db.session.commit()
        for job_id in todo:
            _run(job_id)
        click.echo(f"{len(todo)} job(s) retried")

    @jobs.command("expire")
    @with_appcontext
    def expire() -> None:
        """Remove expired results and mark jobs of dead workers failed (the purge does this too)."""
        state = _state()
        gone, dead = state.jobs.expire(), state.jobs.reap()
        state.db.session.commit()
        click.echo(f"{gone} expired result(s) removed, {dead} stalled job(s) marked failed")

    @jobs.command("export-members")
    @click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx")
    @click.option("--special", is_flag=True, help="Include special categories of data.")
    @click.option("-q", "--query", default="", help="Only members whose text columns contain this.")
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True))
    @with_appcontext
    def export_members(fmt: str, special: bool, query: str, output: str) -> None:
        """The member list as a job (on the queue when one is set), with a progress bar."""
        state = _state()
        job = state.jobs.create(
            "export.members",
            owner=None,
            params={"format": fmt, "query": query[:200], "special": special},
        )
        state.db.session.commit()
        job = _run(job.id)
        path = state.jobs.result_path(job)
        if path is None:
            raise click.ClickException(job.error or f"the job ended {job.status}")
        shutil.copyfile(path, output)
        state.audit.record(
            "jobs.download", detail={"job": job.id, "kind": job.kind, "file": output}
        )
        state.db.session.commit()
        click.echo(f"{output} written")


def _run(job_id: str) -> Job:
    """Start the job (a thread here when no queue is set) and follow it."""
    state = _state()
    runner = runner_for(current_app, web=True)
    if not isinstance(runner, RqRunner):
        runner = ThreadRunner()
    state.jobs.start(job_id, runner=runner)
    job = follow(job_id)
    if job.status == FAILED:
        raise click.ClickException(f"the job failed: {job.error}")
    return job
