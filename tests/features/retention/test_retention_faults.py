"""A purge killed with SIGKILL, two purges at once, and a database restore."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from example_app.models import Member, SignUp, User, db, team_members
from flask_avg.extension import get_state
from flask_avg.features.retention import ledger
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.service import erase_subject
from tests.support import ROOT as REPO
from tests.support.factories import full_member

ROOT = REPO
AS_OF = "2026-01-01"


def _expired_club(n: int) -> list[int]:
    ids = []
    for i in range(1, n + 1):
        built = full_member(i)
        built.member.end_date = date(2010, 1, 1)
        ids.append(built.member.id)
    db.session.commit()
    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    return ids


def _worker(url: str, size: int, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.purge_worker", url, AS_OF, str(size), str(delay)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ledger_count() -> int:
    db.session.rollback()
    stmt = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.model == "Member")
    return int(db.session.scalar(stmt) or 0)


def _assert_whole(ids: list[int]) -> tuple[int, int]:
    """Every member is either untouched with all their rows, or erased with none left."""
    db.session.rollback()
    erased = intact = 0
    for member_id in ids:
        member = db.session.get(Member, member_id)
        signups = db.session.scalar(
            select(func.count()).select_from(SignUp).where(SignUp.member_id == member_id)
        )
        teams = db.session.scalar(
            select(func.count())
            .select_from(team_members)
            .where(team_members.c.member_id == member_id)
        )
        if member.first_name == "anon":
            assert (signups, teams, member.user_id) == (0, 0, None), member_id
            erased += 1
        else:
            assert member.user_id is not None and signups == 1 and teams == 1, member_id
            intact += 1
    # no orphans: no sign-up or login without its member
    orphans = db.session.scalar(
        select(func.count())
        .select_from(SignUp)
        .where(SignUp.member_id.is_not(None), ~SignUp.member_id.in_(select(Member.id)))
    )
    assert orphans == 0
    users = db.session.scalar(select(func.count()).select_from(User))
    assert users == intact
    return erased, intact


def test_sigkill_mid_purge_leaves_no_half_erased_member(app, db_url):
    ids = _expired_club(24)
    proc = _worker(db_url, size=4, delay=0.5)
    try:
        deadline = time.monotonic() + 60
        while _ledger_count() < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    erased, intact = _assert_whole(ids)
    assert erased >= 4 and intact > 0, (erased, intact)
    # the rerun finishes the job, waiting neither for the dead process nor its lock
    rerun = _worker(db_url, size=4, delay=0)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert _assert_whole(ids) == (24, 0)
    counts = json.loads(out.splitlines()[-1])
    assert counts["members"]["Member"][1] == intact


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_two_purges_at_once_handle_each_row_once(app, db_url):
    ids = _expired_club(20)
    first, second = _worker(db_url, 4, 0.2), _worker(db_url, 4, 0.2)
    results = [p.communicate(timeout=180) for p in (first, second)]
    assert first.returncode == 0, results[0][1]
    assert second.returncode == 0, results[1][1]
    anonymised = sum(
        json.loads(out.splitlines()[-1]).get("members", {}).get("Member", [0, 0])[1]
        for out, _err in results
    )
    assert anonymised == 20
    keys = db.session.scalars(select(LedgerEntry.key).where(LedgerEntry.model == "Member")).all()
    assert sorted(keys) == sorted(str(i) for i in ids)
    assert _assert_whole(ids) == (20, 0)


def test_restore_from_copy_then_replay(app, db_url, tmp_path):
    built = [full_member(i) for i in range(1, 5)]
    db.session.commit()
    ids = [b.member.id for b in built]
    backup = _backup(db_url, tmp_path)
    state = get_state()
    for member_id in ids[:2]:
        erase_subject(state, member_id)
    exported = tmp_path / "ledger.jsonl"
    ledger.export(state, exported)
    _restore(db_url, backup)
    assert _assert_whole(ids) == (0, 4)
    totals = ledger.replay(state, exported)
    assert totals["subjects"] == 2
    assert _assert_whole(ids) == (2, 2)
    assert {
        m.id for m in db.session.scalars(select(Member).where(Member.first_name == "anon"))
    } == set(ids[:2])


def _backup(url: str, tmp_path: Path) -> object:
    db.session.commit()
    if url.startswith("sqlite"):
        db.engine.dispose()
        path = Path(db.engine.url.database or "")
        copy = tmp_path / "backup.db"
        shutil.copy(path, copy)
        return copy
    if url.startswith("postgresql"):
        return _pg_copy(url, "bak")
    return _logical_copy()


def _restore(url: str, backup: object) -> None:
    db.session.remove()
    db.engine.dispose()
    if url.startswith("sqlite"):
        shutil.copy(backup, Path(db.engine.url.database or ""))  # type: ignore[arg-type]
    elif url.startswith("postgresql"):
        _pg_restore(url, str(backup))
    else:
        _logical_restore(backup)  # type: ignore[arg-type]


def _pg_admin(url: str):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    admin = sa.make_url(url).set(database="postgres")
    return sa.create_engine(admin, isolation_level="AUTOCOMMIT")


def _pg_copy(url: str, suffix: str) -> str:
    import sqlalchemy as sa

    name = f"{sa.make_url(url).database}_{suffix}"
    db.session.remove()
    db.engine.dispose()
    engine = _pg_admin(url)
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {sa.make_url(url).database}"))
    engine.dispose()
    return name


def _pg_restore(url: str, name: str) -> None:
    import sqlalchemy as sa

    live = sa.make_url(url).database
    engine = _pg_admin(url)
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {live} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {live} TEMPLATE {name}"))
        conn.execute(sa.text(f"DROP DATABASE {name}"))
    engine.dispose()


def _tables() -> list:  # type: ignore[type-arg]
    """The club's tables and the ledger: what a dump of the data would bring back."""
    return [*db.metadata.sorted_tables, LedgerEntry.__table__]


def _logical_copy() -> dict[str, list[dict]]:
    return {t.name: [dict(r) for r in db.session.execute(select(t)).mappings()] for t in _tables()}


def _logical_restore(copy: dict[str, list[dict]]) -> None:
    for table in reversed(_tables()):
        db.session.execute(table.delete())
    for table in _tables():
        if copy[table.name]:
            db.session.execute(table.insert(), copy[table.name])
    db.session.commit()


HOLD_LOCK = """
import sys, time
from example_app import create_app
from flask_avg.features.retention.lock import Lock
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "x"})
with app.app_context():
    Lock(app.extensions["avg"]).__enter__()
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_lock_is_a_file_lock_that_dies_with_its_process(app, db_url):
    from flask_avg.features.retention.lock import Lock, PurgeLocked
    from flask_avg.features.retention.models import PurgeLock

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, db_url], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(PurgeLocked):
            Lock(get_state(), wait=0.3).__enter__()
        # taking the lock wrote nothing to the database
        assert db.session.scalar(select(func.count()).select_from(PurgeLock)) == 0
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
        if holder.stdout is not None:
            holder.stdout.close()
    with Lock(get_state(), wait=0):  # the kernel freed it with the process, at once
        pass


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_lock_row_where_no_lock_file_can_be(app, db_url, monkeypatch):
    """An in-memory database (or no flock) falls back to an expiring lock row."""
    from flask_avg.features.retention import lock as purge_lock
    from flask_avg.features.retention.models import PurgeLock

    monkeypatch.setattr(purge_lock, "_lock_file", lambda engine: None)
    state = get_state()
    with purge_lock.Lock(state):
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(PurgeLock)) == 1
        with pytest.raises(purge_lock.PurgeLocked):
            purge_lock.Lock(state, wait=0).__enter__()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PurgeLock)) == 0


@pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
def test_two_clubs_on_one_server_never_wait_for_each_others_purge(app, db_url):
    """The purge lock is per database: PostgreSQL's advisory locks are, MariaDB's
    named locks are server-wide, so flask-avg names them after the database."""
    import sqlalchemy as sa

    from flask_avg.features.retention.lock import Lock, PurgeLocked
    from tests.support.app import admin_engine, make_app

    leg = "mariadb" if db_url.startswith("mysql") else "postgresql"
    other_db = f"{sa.make_url(db_url).database}_other"
    admin = admin_engine(leg)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {other_db}"))
        conn.execute(sa.text(f"CREATE DATABASE {other_db}"))
    other_url = sa.make_url(db_url).set(database=other_db).render_as_string(False)
    other = make_app(other_url)
    try:
        with Lock(get_state(), wait=0):
            with other.app_context():
                with Lock(other.extensions["avg"], wait=0):  # another club: not blocked
                    pass
                db.engine.dispose()
            with pytest.raises(PurgeLocked), Lock(get_state(), wait=0):  # the same club
                pass
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {other_db}"))
        admin.dispose()
