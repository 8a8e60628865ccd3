"""Job kinds for the job tests, and the app an RQ worker subprocess runs.

``flask --app tests.support.jobs:worker_app avg jobs worker --burst`` with
``AVG_TEST_JOB_DB`` (the test's database URL), ``AVG_TEST_JOB_QUEUE`` (the Redis
URL with its queue) and ``AVG_TEST_JOB_DIR`` (the result folder) in the environment; with
``AVG_TEST_JOB_SLOW_PURGE`` (seconds) a purge runs one member per batch and
sleeps that long after each (a purge to kill mid-run).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flask import Flask

from flask_avg.core.jobs import JobContext, JobFailed, Kind


def count_to(ctx: JobContext) -> None:
    """Counts to ``params["n"]``, reporting each step, and writes the numbers."""
    n = int(ctx.params["n"])
    with ctx.result_file("numbers.txt", "text/plain") as out:
        for i in range(1, n + 1):
            out.write(f"{i}\n".encode())
            ctx.progress(i, n)


def fail(ctx: JobContext) -> None:
    ctx.progress(1, 2)
    with ctx.result_file("half.txt", "text/plain") as out:
        out.write(b"half")
    raise JobFailed("the test job failed on purpose")


def wait_for_flag(ctx: JobContext) -> None:
    """Reports progress until the file ``params["flag"]`` exists (a job to kill)."""
    flag = Path(ctx.params["flag"])
    steps = 0
    while not flag.exists():
        steps += 1
        ctx.jobs._write(ctx.job_id, progress=min(steps, 99), total=100)  # a heartbeat each step
        time.sleep(0.1)
    with ctx.result_file("flag.txt", "text/plain") as out:
        out.write(b"flag seen")


KINDS = (
    Kind("test.count", run=count_to, action="avg.members.export"),
    Kind("test.fail", run=fail, action="avg.members.export"),
    Kind("test.flag", run=wait_for_flag, action="avg.members.export"),
)


def register(app: Flask) -> None:
    state = app.extensions["avg"]
    for kind in KINDS:
        if kind.name not in state.jobs.kinds:
            state.jobs.register(kind)


def worker_app() -> Any:
    from tests.support.app import make_app

    slow = os.environ.get("AVG_TEST_JOB_SLOW_PURGE")
    config: dict[str, Any] = {}
    if slow:
        from flask_avg.features.retention import engine

        config = {"AVG_PURGE_BATCH_SIZE": 1, "AVG_PURGE_BATCH_SECONDS": 0}
        engine.batch_hook = lambda: time.sleep(float(slow))
    app = make_app(
        os.environ["AVG_TEST_JOB_DB"],
        AVG_JOB_QUEUE=os.environ["AVG_TEST_JOB_QUEUE"],
        AVG_JOB_DIR=os.environ["AVG_TEST_JOB_DIR"],
        **config,
    )
    register(app)
    return app
