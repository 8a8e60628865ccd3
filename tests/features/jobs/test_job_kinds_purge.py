"""The purge as a job (``retention.purge``): the board's "purge now" with the thread
runner and with RQ on the real Redis, the command's purge inline with a progress
bar, the run and its job linked, a killed worker, and one checklist line.

Every purge writes its run row (``avg_purge_run``, the history the retention page
shows) and its job row with the same progress, in the same transactions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, timedelta

import pytest
from redis import Redis
from sqlalchemy import select

from example_app.demo import seed
from example_app.models import db
from flask_avg.core import checklist
from flask_avg.core.jobs import DONE, FAILED, QUEUED, RUNNING, Job
from flask_avg.core.models import AuditEntry
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from flask_avg.features.retention.lock import Lock
from flask_avg.features.retention.models import PurgeRun
from flask_avg.features.retention.runs import JOB_KIND, job_of
from flask_avg.features.retention.service import start_purge
from tests.support import ROOT
from tests.support.app import csrf_token, login

TODAY = date(2026, 11, 22)
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def club(app, tmp_path):
    app.config["AVG_JOB_DIR"] = str(tmp_path / "results")
    seed(n_members=30, today=TODAY)
    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    return app


def _fresh(model, key):  # noqa: ANN001, ANN202
    db.session.commit()  # a new transaction: MariaDB shows the other thread's commits
    return db.session.get(model, key, populate_existing=True)


def _purge_jobs() -> list[Job]:
    db.session.commit()
    return list(db.session.scalars(select(Job).where(Job.kind == JOB_KIND)))


def test_purge_now_is_a_job_run_in_a_thread_linked_to_its_run(club):
    client = club.test_client()
    login(client, "bestuur@example.org")
    token = csrf_token(client, "/avg/retention")
    before = set(threading.enumerate())
    response = client.post("/avg/retention/purge", data={"csrf_token": token})
    assert response.status_code == 302
    run_url = response.headers["Location"]
    run_id = int(run_url.rsplit("/", 1)[-1])
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("avg-job-"):  # the thread runner's
            thread.join(timeout=120)
    run = _fresh(PurgeRun, run_id)
    (job,) = _purge_jobs()
    assert job_of(get_state(), run_id).id == job.id
    assert job.params["run"] == run_id and job.owner is not None
    assert (run.status, run.trigger) == ("done", "board")
    # the job's progress is the run's, written in the same batches
    assert job.status == DONE and job.total == run.total_rows > 0
    assert job.progress == run.done_rows > 0 and job.attempts == 1
    # the jobs page links the run's page; the run's page links the job's
    page = client.get(f"/avg/jobs/{job.id}").get_data(as_text=True)
    assert run_url.replace("http://localhost", "") in page
    info = client.get(f"/avg/jobs/{job.id}/status.json").get_json()
    assert info["status"] == "done" and info["percent"] == 100
    assert info["link"].endswith(f"/avg/retention/runs/{run_id}")
    html = client.get(run_url).get_data(as_text=True)
    assert f"/avg/jobs/{job.id}" in html and 'data-run-job="done"' in html
    started = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention.purge_started")
    ).one()
    assert started.detail == {"run": run_id, "job": job.id}


def test_a_member_sees_neither_the_purge_job_nor_its_run(club):
    state = get_state()
    with club.test_request_context():
        run_id, thread = start_purge(state, actor=None)
        thread.join(timeout=120)
    (job,) = _purge_jobs()
    member = club.test_client()
    login(member, "lid@example.org")
    assert member.get(f"/avg/jobs/{job.id}").status_code in (403, 404)
    assert member.get(f"/avg/retention/runs/{run_id}").status_code == 403


def test_the_command_purges_as_a_job_with_a_progress_bar(club):
    result = club.test_cli_runner().invoke(args=["avg", "purge"])
    assert result.exit_code == 0, result.output
    assert "purge" in result.output and "100%" in result.output
    (job,) = _purge_jobs()
    run = _fresh(PurgeRun, job.params["run"])
    assert (run.trigger, run.status, run.actor) == ("scheduled", "done", None)
    assert job.status == DONE and job.owner is None and job.progress == run.done_rows > 0
    # the checklist's purge line reads the same run the retention page shows
    lines = {line.key: line.verdict for line in checklist.run(club, get_state())}
    assert lines["purge"] == "ok"
    # a dry run is no job and no run
    assert club.test_cli_runner().invoke(args=["avg", "purge", "--dry-run"]).exit_code == 0
    assert len(_purge_jobs()) == 1


def test_a_locked_out_command_purge_is_skipped_failed_and_retryable(club):
    state = get_state()
    with club.test_request_context(), Lock(state):
        result = club.test_cli_runner().invoke(args=["avg", "purge", "--wait", "0"])
    assert result.exit_code == 75 and "purge skipped" in result.output
    (job,) = _purge_jobs()
    run = _fresh(PurgeRun, job.params["run"])
    assert job.status == FAILED and run.status == "skipped"
    assert {line.key: line.verdict for line in checklist.run(club, state)}["purge"] == "fail"
    # retried: the same run, carried out now
    again = club.test_cli_runner().invoke(args=["avg", "jobs", "retry", job.id])
    assert again.exit_code == 0, again.output
    job, run = _fresh(Job, job.id), _fresh(PurgeRun, run.id)
    assert job.status == DONE and job.attempts == 2
    assert run.status == "done" and run.error is None and run.done_rows > 0


def test_a_stalled_purge_job_fails_its_run_too(club):
    """The purge's worker died (no heartbeat): the reaper fails the job and the run at
    once, so the board can start the next purge without waiting for the run's beat."""
    state = get_state()
    from flask_avg.features.retention.runs import job_params, open_run

    run_id = open_run(state, trigger="board", actor=None, as_of=TODAY, status="running")
    job = state.jobs.create(JOB_KIND, owner=None, params=job_params(run_id, wait=0, actor=None))
    job.status, job.heartbeat_at = RUNNING, utcnow() - timedelta(hours=1)  # its worker died
    db.session.commit()
    assert state.jobs.reap() == 1
    db.session.commit()
    assert _fresh(PurgeRun, run_id).status == "failed"
    assert _fresh(PurgeRun, run_id).error == "RuntimeError: the worker stopped"
    with club.test_request_context():
        new_run, thread = start_purge(state, actor=None)
    assert new_run != run_id and thread is not None
    thread.join(timeout=120)


# -- RQ on the real Redis -----------------------------------------------------------------


@pytest.fixture
def rq(club, db_url):
    """A queue of this test's own on the real Redis, and workers for it (subprocesses)."""
    queue = f"avg-test-{uuid.uuid4().hex[:12]}"
    url = f"{REDIS}?queue={queue}"
    club.config["AVG_JOB_QUEUE"] = url
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AVG_TEST_JOB_DB": db_url,
        "AVG_TEST_JOB_QUEUE": url,
        "AVG_TEST_JOB_DIR": club.config["AVG_JOB_DIR"],
    }
    flask = [sys.executable, "-m", "flask", "--app", "tests.support.jobs:worker_app"]
    started: list[subprocess.Popen[bytes]] = []

    def worker(*, burst: bool = True, slow: float = 0) -> subprocess.Popen[bytes]:
        args = [*flask, "avg", "jobs", "worker", *(["--burst"] if burst else [])]
        extra = {"AVG_TEST_JOB_SLOW_PURGE": str(slow)} if slow else {}
        proc = subprocess.Popen(
            args, cwd=ROOT, env={**env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        started.append(proc)
        return proc

    yield worker
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    redis = Redis.from_url(REDIS)
    for key in redis.scan_iter(f"rq:*{queue}*"):
        redis.delete(key)
    redis.close()


def _wait(predicate, seconds=120.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.commit()  # a new transaction: MariaDB shows the worker's commits
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_purge_now_on_rq_runs_in_the_worker_with_progress(club, rq):
    state = get_state()
    with club.test_request_context():
        run_id, handle = start_purge(state, actor=None)
    assert handle is None  # on the queue: nothing runs in this process
    (job,) = _purge_jobs()
    assert job.status == QUEUED and _fresh(PurgeRun, run_id).status == "queued"
    out, _ = rq().communicate(timeout=180)
    job, run = _fresh(Job, job.id), _fresh(PurgeRun, run_id)
    assert job.status == DONE, out.decode()
    assert run.status == "done" and run.trigger == "board"
    assert job.progress == run.done_rows > 0 and job.total == run.total_rows


def test_a_purge_worker_killed_mid_run_leaves_job_and_run_failed_and_retryable(club, rq):
    state = get_state()
    with club.test_request_context():
        run_id, _handle = start_purge(state, actor=None)
    (job,) = _purge_jobs()
    worker = rq(burst=False, slow=0.3)
    _wait(lambda: (_fresh(Job, job.id).progress or 0) >= 2)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert _fresh(Job, job.id).status == RUNNING  # nobody said otherwise yet
    assert _fresh(PurgeRun, run_id).status == "running"
    assert state.jobs.reap(stale_seconds=0) == 1
    db.session.commit()
    job = _fresh(Job, job.id)
    assert job.status == FAILED and job.error == "the worker stopped"
    assert _fresh(PurgeRun, run_id).status == "failed"
    committed = _fresh(PurgeRun, run_id).done_rows
    assert committed >= 2  # whole batches stay done

    assert state.jobs.retry(job)
    db.session.commit()
    state.jobs.start(job)
    out, _ = rq().communicate(timeout=180)
    job, run = _fresh(Job, job.id), _fresh(PurgeRun, run_id)
    assert job.status == DONE and job.attempts == 2, out.decode()
    assert run.status == "done" and run.error is None
