"""Background jobs in the kernel: state in the database, runners, expiry, dead workers.

With the inline runner on every database leg, and with RQ against the real Redis
(127.0.0.1:6379): a worker is started by the test as a subprocess
(``flask avg jobs worker --burst``), and one is killed mid-job.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis

from example_app.models import db
from flask_avg.core.jobs import (
    DONE,
    EXPIRED,
    FAILED,
    QUEUED,
    RUNNING,
    InlineRunner,
    Job,
    RqRunner,
    ThreadRunner,
    runner_for,
)
from flask_avg.core.types import utcnow
from tests.support import ROOT
from tests.support.jobs import register

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def jobs(app, tmp_path):
    app.config["AVG_JOB_DIR"] = str(tmp_path / "results")
    register(app)
    return app.extensions["avg"].jobs


def _run(jobs, kind, **params):
    job = jobs.create(kind, owner="1", params=params)
    db.session.commit()
    jobs.start(job, runner=InlineRunner())
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    return db.session.get(Job, job.id)


def test_a_job_reports_progress_and_leaves_a_private_result(app, jobs):
    job = _run(jobs, "test.count", n=5)
    assert (job.status, job.progress, job.total, job.percent) == (DONE, 5, 5, 100)
    path = jobs.result_path(job)
    assert path is not None and path.read_text() == "1\n2\n3\n4\n5\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.stem) >= 32 and "numbers" not in path.name  # not guessable
    assert app.static_folder is None or not path.is_relative_to(app.static_folder)
    assert job.result_name == "numbers.txt"
    hours = (job.expires_at - job.finished_at).total_seconds() / 3600
    assert hours == 48
    assert job.attempts == 1


def test_a_failed_job_keeps_its_error_no_file_and_can_be_retried(app, jobs):
    job = _run(jobs, "test.fail")
    assert job.status == FAILED and job.error == "the test job failed on purpose"
    assert job.result_path is None and list(jobs.folder().iterdir()) == []
    assert jobs.retry(job)
    db.session.commit()
    assert job.status == QUEUED and job.error is None
    jobs.start(job, runner=InlineRunner())
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    again = db.session.get(Job, job.id)
    assert again.status == FAILED and again.attempts == 2
    done = _run(jobs, "test.count", n=1)
    assert not jobs.retry(done)  # only failed jobs


def test_a_job_runs_once_even_when_started_twice(app, jobs):
    job = _run(jobs, "test.count", n=2)
    jobs.start(job.id, runner=InlineRunner())
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    assert db.session.get(Job, job.id).attempts == 1


def test_expiry_removes_the_file(app, jobs):
    job = _run(jobs, "test.count", n=2)
    path = jobs.result_path(job)
    assert path is not None
    assert jobs.expire() == 0
    assert jobs.expire(utcnow() + timedelta(hours=49)) == 1
    db.session.commit()
    assert not path.exists()
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    job = db.session.get(Job, job.id)
    assert job.status == EXPIRED and jobs.result_path(job) is None


def test_expiry_follows_the_configured_hours(app, jobs):
    app.config["AVG_JOB_RESULT_HOURS"] = 1
    job = _run(jobs, "test.count", n=1)
    assert (job.expires_at - job.finished_at) == timedelta(hours=1)
    assert jobs.expire(utcnow() + timedelta(minutes=61)) == 1


def test_a_running_job_without_heartbeat_is_failed_and_retryable(app, jobs):
    job = jobs.create("test.count", owner="1", params={"n": 3})
    job.status, job.heartbeat_at = RUNNING, utcnow() - timedelta(minutes=10)
    db.session.commit()
    assert jobs.reap(stale_seconds=3600) == 0
    assert jobs.reap() == 1  # AVG_JOB_STALE_SECONDS: 300
    db.session.commit()
    job = db.session.get(Job, job.id)
    assert job.status == FAILED and job.error == "the worker stopped"
    assert jobs.retry(job)
    db.session.commit()
    jobs.start(job, runner=InlineRunner())
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    assert db.session.get(Job, job.id).status == DONE


def test_the_thread_runner_runs_in_the_background(app, jobs):
    job = jobs.create("test.count", owner="1", params={"n": 3})
    db.session.commit()
    jobs.start(job, runner=ThreadRunner())
    for _ in range(200):
        db.session.commit()  # a new transaction: MariaDB shows the worker's commits
        if db.session.get(Job, job.id).status == DONE:
            break
        time.sleep(0.05)
    assert db.session.get(Job, job.id).status == DONE


def test_runner_choice(app):
    assert isinstance(runner_for(app, web=True), ThreadRunner)
    assert isinstance(runner_for(app, web=False), InlineRunner)
    app.config["AVG_JOB_QUEUE"] = "rq://127.0.0.1:6379/3?queue=club"
    runner = runner_for(app, web=True)
    assert isinstance(runner, RqRunner)
    assert (runner.url, runner.queue) == ("redis://127.0.0.1:6379/3", "club")
    app.config["AVG_JOB_QUEUE"] = "amqp://broker"
    with pytest.raises(Exception, match="AVG_JOB_QUEUE"):
        runner_for(app, web=True)


def test_bad_input_is_refused(app, jobs):
    with pytest.raises(KeyError):
        jobs.create("no.such.kind", owner=None)
    with pytest.raises(ValueError, match="too long"):
        jobs.create("test.count", owner=None, params={"n": "x" * 5000})
    assert jobs.get("../../etc/passwd") is None
    assert jobs.get("0" * 32) is None


# -- RQ on the real Redis -----------------------------------------------------------------


@pytest.fixture
def rq(app, jobs, tmp_path, db_url):
    """A queue of this test's own on the real Redis, and a way to start workers for it."""
    queue = f"avg-test-{uuid.uuid4().hex[:12]}"
    url = f"{REDIS}?queue={queue}"
    app.config["AVG_JOB_QUEUE"] = url
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AVG_TEST_JOB_DB": db_url,
        "AVG_TEST_JOB_QUEUE": url,
        "AVG_TEST_JOB_DIR": app.config["AVG_JOB_DIR"],
    }
    flask = [sys.executable, "-m", "flask", "--app", "tests.support.jobs:worker_app"]
    started: list[subprocess.Popen[bytes]] = []

    def worker(*, burst: bool = True) -> subprocess.Popen[bytes]:
        args = [*flask, "avg", "jobs", "worker", *(["--burst"] if burst else [])]
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
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


def _wait(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.commit()  # a new transaction: MariaDB shows the worker's commits
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_rq_worker_runs_the_job_with_progress(app, jobs, rq):
    job = jobs.create("test.count", owner="1", params={"n": 4})
    db.session.commit()
    jobs.start(job)  # onto the queue: nothing runs yet
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    assert db.session.get(Job, job.id).status == QUEUED
    out, _ = rq().communicate(timeout=120)
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    done = db.session.get(Job, job.id)
    assert done.status == DONE, out.decode()
    assert (done.progress, done.total) == (4, 4)
    path = jobs.result_path(done)
    assert path is not None and path.read_text().splitlines() == ["1", "2", "3", "4"]


def test_rq_worker_killed_mid_job_leaves_it_failed_and_retryable(app, jobs, rq, tmp_path):
    flag = tmp_path / "flag"
    job = jobs.create("test.flag", owner="1", params={"flag": str(flag)})
    db.session.commit()
    jobs.start(job)
    worker = rq(burst=False)
    _wait(lambda: db.session.get(Job, job.id).status == RUNNING)
    _wait(lambda: (db.session.get(Job, job.id).progress or 0) >= 2)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    assert db.session.get(Job, job.id).status == RUNNING  # nobody said otherwise yet
    assert jobs.reap(stale_seconds=0) == 1
    db.session.commit()
    job = db.session.get(Job, job.id)
    assert job.status == FAILED and job.error == "the worker stopped"

    assert jobs.retry(job)
    db.session.commit()
    jobs.start(job)
    Path(flag).write_text("go")
    out, _ = rq().communicate(timeout=120)
    db.session.commit()  # a new transaction: MariaDB shows the worker's commits
    job = db.session.get(Job, job.id)
    assert job.status == DONE and job.attempts == 2, out.decode()
    assert jobs.result_path(job).read_text() == "flag seen"


def test_a_job_removed_while_running_leaves_no_file(app, jobs):
    """An erasure deletes a running job's row: the file it then finishes goes too."""
    from tests.support import jobs as kinds

    def count_then_vanish(ctx):
        kinds.count_to(ctx)
        db.session.execute(Job.__table__.delete().where(Job.__table__.c.id == ctx.job_id))
        db.session.commit()

    jobs.kinds["test.vanish"] = kinds.Kind("test.vanish", run=count_then_vanish, action="x")
    job = jobs.create("test.vanish", owner="1", params={"n": 2})
    job_id = job.id
    db.session.commit()
    jobs.start(job_id, runner=InlineRunner())
    db.session.commit()
    assert db.session.get(Job, job_id) is None
    assert list(jobs.folder().iterdir()) == []


def test_a_long_step_without_progress_still_beats(app, jobs, tmp_path):
    """One long step (a large table scanned) reports no progress: the job's pulse keeps
    its heartbeat going, so it is not taken for a dead worker meanwhile."""
    from tests.support import jobs as kinds

    flag = tmp_path / "go"

    def silent(ctx):
        while not flag.exists():
            time.sleep(0.05)

    app.config["AVG_JOB_STALE_SECONDS"] = 2  # a beat every second
    jobs.kinds["test.silent"] = kinds.Kind("test.silent", run=silent, action="x")
    job = jobs.create("test.silent", owner="1")
    db.session.commit()
    thread = jobs.start(job, runner=ThreadRunner())
    try:
        _wait(lambda: db.session.get(Job, job.id, populate_existing=True).status == RUNNING)
        first = db.session.get(Job, job.id).heartbeat_at
        _wait(lambda: db.session.get(Job, job.id, populate_existing=True).heartbeat_at > first)
        assert db.session.get(Job, job.id).status == RUNNING
    finally:
        flag.write_text("go")
        thread.join(timeout=60)
    db.session.commit()
    assert db.session.get(Job, job.id, populate_existing=True).status == DONE
