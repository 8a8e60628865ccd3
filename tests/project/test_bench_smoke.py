"""Every benchmark in ``bench/`` runs at its smoke size, so none can rot.

Each ``bench/bench_*.py`` is found by name (a new one is picked up without
editing this file) and run as ``python -m bench <name> --smoke`` in a process
of its own: a benchmark registers ACL actions and starts ``tracemalloc``,
which must not leak into the other tests. The test asserts that it finishes,
that it printed at least one ratio against its in-run baseline, and (on
PostgreSQL) that it dropped the databases it made. A benchmark raises when its
contenders disagree, so a wrong result fails here too. Never a timing: the
figures at these sizes mean nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.support import ROOT as REPO
from tests.support.app import LEGS, SERVERS

ROOT = REPO
BENCHMARKS = sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py"))
#: a ratio as the benchmarks print it: "1.23x"
RATIO = re.compile(r"\d+(\.\d+)?x\b")


def _leftover_databases(prefix: str) -> list[str]:
    """PostgreSQL databases named ``prefix...``; none when the server is out of reach."""
    try:
        engine = sa.create_engine(sa.make_url(SERVERS["postgresql"]).set(database="postgres"))
        try:
            with engine.connect() as conn:
                return list(
                    conn.execute(
                        sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                        {"p": prefix.replace("_", r"\_") + "%"},
                    ).scalars()
                )
        finally:
            engine.dispose()
    except sa.exc.OperationalError:
        return []


def test_every_benchmark_is_found():
    assert len(BENCHMARKS) >= 5, BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_at_smoke_size(name, tmp_path):
    postgresql = "postgresql" in LEGS
    args = [sys.executable, "-m", "bench", name, "--smoke"]
    if not postgresql:
        args.append("--sqlite-only")  # only the retention bench knows it; the others ignore it
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # every temporary file and folder of the run (SQLite files, photos) under tmp_path
        "TMPDIR": str(tmp_path),
        # the test suite's PostgreSQL server, in databases named after the bench's process
        "AVG_BENCH_POSTGRESQL_URL": SERVERS["postgresql"],
    }
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{out}\n{err}"
    ratios = [line for line in out.splitlines() if RATIO.search(line)]
    assert ratios, f"no ratio line in the output of bench {name}:\n{out}"
    if postgresql:
        assert _leftover_databases(f"avg_bench_{proc.pid}_") == []
