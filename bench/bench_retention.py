"""Retention purge: the engine against hand-written set-based SQL and a per-row ORM loop.

``python -m bench retention`` builds a club of N members with about 5.5 rows
each (half a login, an invoice, a payment, a sign-up, a message, a team role),
on SQLite and, when reachable, PostgreSQL (``AVG_BENCH_POSTGRESQL_URL``,
default the test server). For each size it runs, on fresh copies of the same
data:

* the engine (``purge(as_of)``), batch by batch as it runs in production;
* hand-written set-based SQL doing the same deletes, updates and ledger inserts
  in the same batches, each its own transaction (the like-for-like baseline:
  what the engine's generality costs), and in one single transaction (the
  floor: what committing batch by batch costs); the final row counts must match;
* both again with ten times larger batches;
* a per-row ORM loop (load each member's rows, delete or blank them object by
  object) on a sample of expired members, as a factor per member;
* the engine again under ``tracemalloc`` for its peak Python memory.

Default sizes 10,000 and 50,000 members (about two minutes); ``--full`` uses
10,000 and 1,000,000 members (~5,500,000 rows). ``--smoke`` (``make test``
runs it so the benchmark cannot rot) uses 200 members, batches of 20 and 200
and one run of each contender instead of the best of five. ``--sqlite-only``
and ``--postgresql-only`` pick one database, ``--members=N`` one club size.
``--brief`` (for the largest sizes) runs only what the targets are about: the
default batches, the time-sized batches and the one-transaction floor, once
each; no ten times larger batches, ORM loop or memory trace. When the contenders leave
different row counts, or the data has no expired member, it raises.

On PostgreSQL the databases are named after the process
(``avg_bench_<pid>_...``), so two runs on one server do not collide.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

AS_OF = date(2026, 1, 1)
MEMBER_DAYS = 365
SIGNUP_DAYS = 3650
SAMPLE = 300
REPEAT = 5
DEFAULT_BATCH = 5000  # AVG_PURGE_BATCH_SIZE's default
PG_URL = os.environ.get(
    "AVG_BENCH_POSTGRESQL_URL",
    os.environ.get("AVG_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)
#: prefix of this run's databases (and SQLite files): two runs never share one
PREFIX = f"avg_bench_{os.getpid()}"
#: extra app config for the run, set by :func:`main` (the photo folder, in its temporary dir)
CONFIG: dict[str, Any] = {}


@dataclass(frozen=True)
class Sizes:
    """One run's sizes: club sizes, purge batch (and ten times it), ORM sample, repeats."""

    members: tuple[int, ...]
    batch: int = DEFAULT_BATCH
    sample: int = SAMPLE
    repeat: int = REPEAT


SIZES = {
    "smoke": Sizes((200,), batch=20, sample=20, repeat=1),
    "default": Sizes((10_000, 50_000)),
    "full": Sizes((10_000, 1_000_000)),
}


# -- data ------------------------------------------------------------------------


def _rows(n: int) -> dict[str, Iterator[tuple[Any, ...]]]:
    rng = random.Random(42)
    ended = [rng.random() < 0.4 for _ in range(n + 1)]
    years = [rng.randint(2012, 2024) for _ in range(n + 1)]

    def users() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1, 2):
            yield (i, f"u{i}@example.org", "x", None, True, 0)

    def members() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            end = date(2014 + i % 6, 6, 30) if ended[i] else None
            yield (
                i,
                i if i % 2 else None,
                f"N{i:07d}",
                "Voornaam",
                f"Achternaam{i}",
                date(1980, 1, 1 + i % 28),
                f"m{i}@example.org",
                "0612345678",
                "Dorpsstraat 1",
                "3511 AB",
                "Utrecht",
                "NL91ABNA0417164300",
                date(2005, 1, 1),
                end,
                None,
            )

    def invoices() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            yield (i, i, f"F{i}", date(years[i], 1, 15), "Contributie", 120)

    def payments() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            yield (i, i, date(years[i], 2, 4), 120, "NL1")

    def signups() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            yield (i, i, date(years[i] - 2, 3, 1), "lidmaatschap", None)

    def messages() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            yield (i, i, (i * 7919) % n + 1, datetime(years[i], 5, 1, 12), "Training")

    def teams() -> Iterator[tuple[Any, ...]]:
        for t in range(1, 11):
            yield (t, f"Team {t}")

    def team_members() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            yield (i % 10 + 1, i, "speler")

    return {
        "users": users(),
        "members": members(),
        "teams": teams(),
        "invoices": invoices(),
        "payments": payments(),
        "signups": signups(),
        "messages": messages(),
        "team_members": team_members(),
    }


def _app(url: str, batch: int | None = None, seconds: float = 0.0) -> Any:
    from example_app import create_app

    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "bench",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        **CONFIG,
    }
    if batch:
        config["AVG_PURGE_BATCH_SIZE"] = batch
    # fixed batches unless asked: the time-sized purge is a contender of its own
    config["AVG_PURGE_BATCH_SECONDS"] = seconds
    return create_app(config)


def _build(url: str, n: int) -> None:
    from example_app.models import db
    from flask_avg.core.models import AvgBase

    app = _app(url)
    with app.app_context():
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        with db.engine.begin() as conn:
            # a host with a large club indexes the foreign key of its association table
            conn.execute(sa.text("CREATE INDEX ix_team_members_member ON team_members (member_id)"))
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            for name, rows in _rows(n).items():
                cols = [c.name for c in db.metadata.tables[name].columns]
                if db.engine.dialect.name == "postgresql":
                    with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" for _ in cols)
                    sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})"
                    batch: list[tuple[Any, ...]] = []
                    for row in rows:
                        batch.append(row)
                        if len(batch) == 20000:
                            cur.executemany(sql, batch)
                            batch.clear()
                    if batch:
                        cur.executemany(sql, batch)
            raw.commit()
        finally:
            raw.close()
        from flask_avg.extension import get_state

        get_state().settings.set("retention.members.days", MEMBER_DAYS)
        get_state().settings.set("retention.signups.days", SIGNUP_DAYS)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(sa.text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as c:
                c.execute(sa.text("ANALYZE"))
        db.engine.dispose()


class Backend:
    """Fresh copies of one built database: a file copy (SQLite) or a template (PostgreSQL)."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.copies: list[str] = []
        if kind == "postgresql":
            self.admin = sa.create_engine(
                sa.make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
            )
        self.template = self._url(f"{PREFIX}_tpl")

    def _url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / (name + '.db')}"
        return sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def build(self, n: int) -> None:
        if self.kind == "postgresql":
            with self.admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {PREFIX}_tpl WITH (FORCE)"))
                c.execute(sa.text(f"CREATE DATABASE {PREFIX}_tpl"))
        _build(self.template, n)

    def copy(self, tag: str) -> str:
        name = f"{PREFIX}_{tag}"
        if self.kind == "sqlite":
            shutil.copy(self.workdir / f"{PREFIX}_tpl.db", self.workdir / f"{name}.db")
        else:
            with self.admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                c.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {PREFIX}_tpl"))
        self.copies.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = sa.make_url(url).database or ""
        if self.kind == "sqlite":
            Path(name).unlink(missing_ok=True)
        else:
            with self.admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {Path(name).name} WITH (FORCE)"))

    def close(self) -> None:
        if self.kind == "postgresql":
            with self.admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {PREFIX}_tpl WITH (FORCE)"))
            self.admin.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as c:
        for t in (
            "users",
            "members",
            "invoices",
            "payments",
            "signups",
            "messages",
            "team_members",
        ):
            out[t] = int(c.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() or 0)
        out["anonymised"] = int(
            c.execute(sa.text("SELECT COUNT(*) FROM members WHERE first_name = 'anon'")).scalar()
            or 0
        )
    engine.dispose()
    return out


# -- the three contenders -----------------------------------------------------------


#: the sizes of the last engine run's transactions (subjects, then rows), for the
#: hand-written SQL "in the same batches" as a time-sized purge
LAST_BATCHES: list[int] = []


def run_engine(
    url: str, batch: int | None = None, *, memory: bool = False, seconds: float = 0.0
) -> tuple[float, int]:
    """The purge; returns its time (or, with ``memory``, its peak Python memory in
    bytes, traced from its start: the app is built before) and the members it erased.
    ``seconds`` > 0 sizes its batches by time (``AVG_PURGE_BATCH_SECONDS``); the sizes
    it chose are left in :data:`LAST_BATCHES`."""
    from example_app.models import db
    from flask_avg.features.retention.service import purge

    app = _app(url, batch, seconds)
    with app.app_context():
        sa.orm.configure_mappers()  # the ORM's one-time set-up, paid by the app's first request
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        try:
            result = purge(app.extensions["avg"], AS_OF, actor="bench")
            elapsed = time.perf_counter() - started
            if memory:
                elapsed = tracemalloc.get_traced_memory()[1]
        finally:
            if memory:
                tracemalloc.stop()
        expired = result.categories.get("members", {}).get("Member")
        LAST_BATCHES[:] = [rows for rows, _s in result.sizer.history] if result.sizer else []
        db.engine.dispose()
    return elapsed, expired.anonymised if expired else 0


def _hand_statements(pg: bool, gone: str, accounts: str, logins: str) -> list[str]:
    """Hand-written SQL for one batch of the bench's club: the members named by
    ``gone`` (SQL listing their ids: a temporary table, or a key range of expired
    members) lose their rows, their login ``accounts`` (``logins``: the same as
    text) and their identity.

    What any purge of a club on flask-avg must also do comes first, as the
    plugins do it: flask-avg's own tables that name the members (board
    memberships, request messages, processing limits, consents, consent IPs,
    guardians, all empty in the bench, so cheap by hand) and the queue of the
    external erasures owed (the photos: one row per member)."""
    text = "VARCHAR" if pg else "TEXT"
    now = "now()" if pg else "CURRENT_TIMESTAMP"
    members = f"FROM members WHERE id IN ({gone})"
    keys = f"SELECT CAST(id AS {text}) {members}"
    return [
        f"DELETE FROM avg_group_member WHERE user_id IN {logins}",
        f"UPDATE avg_request SET message = NULL WHERE subject IN ({keys}) AND message IS NOT NULL",
        f"DELETE FROM avg_processing_limit WHERE subject IN ({keys})",
        f"DELETE FROM avg_consent WHERE subject IN ({keys})",
        f"UPDATE avg_consent_record SET ip = NULL WHERE subject IN ({keys}) AND ip IS NOT NULL",
        f"DELETE FROM avg_guardian WHERE subject IN ({keys}) OR guardian IN ({keys})",
        "INSERT INTO avg_external_erasure (plugin, subject, reason, created_at, attempts) "
        f"SELECT 'photos', CAST(id AS {text}), 'retention', {now}, 0 {members}",
        # one statement per foreign key: an OR of two IN subqueries defeats the indexes
        f"DELETE FROM messages WHERE sender_id IN ({gone})",
        f"DELETE FROM messages WHERE recipient_id IN ({gone})",
        f"DELETE FROM team_members WHERE member_id IN ({gone})",
        f"DELETE FROM signups WHERE member_id IN ({gone})",
        "INSERT INTO avg_erasure_ledger (model, key, action, reason, at) "
        f"SELECT 'Member', CAST(id AS {text}), 'anonymised', 'retention', {now} {members}",
        "INSERT INTO avg_erasure_ledger (model, key, action, reason, at) "
        f"SELECT 'User', CAST(user_id AS {text}), 'deleted', 'retention', {now} "
        f"{members} AND user_id IS NOT NULL",
        f"UPDATE members SET member_number = CAST(id AS {text}), first_name = 'anon', "
        f"last_name = 'anon', birth_date = NULL, email = 'anon-' || CAST(id AS {text}) "
        "|| '@anon.invalid', phone = NULL, street = NULL, postcode = NULL, city = NULL, "
        f"iban = NULL, start_date = :epoch, medical_notes = NULL, user_id = NULL WHERE id IN ({gone})",
        f"DELETE FROM users WHERE id IN {accounts}",
    ]


#: the rows stage: per table, its expiry condition
ROWS = [
    ("payments", "paid_on < :ci"),
    (
        "invoices",
        "invoice_date < :ci AND NOT EXISTS "
        "(SELECT 1 FROM payments WHERE payments.invoice_id = invoices.id)",
    ),
    ("messages", "sent_at < :cmt"),
    ("signups", "signed_up_on < :cs"),
]
EXPIRED = "FROM members WHERE end_date < :cm"
#: the two ways of naming a batch's members (and their accounts) by hand: a
#: temporary table filled per batch (then analysed, or PostgreSQL plans it
#: blind), or the key range itself, with the account keys read before the
#: members are unlinked from them
BATCH_SOURCES = {
    "temporary table": (
        "SELECT id FROM gone",
        "(SELECT user_id FROM gone)",
        "(SELECT login FROM gone WHERE login IS NOT NULL)",
    ),
    "key range": (f"SELECT id {EXPIRED} AND id BETWEEN :lo AND :hi", ":accounts", ":logins"),
}


def run_hand_sql(
    url: str,
    batch: int | None = None,
    source: str = "temporary table",
    sizes: list[int] | None = None,
) -> float:
    """The same deletes, updates and ledger inserts in plain set-based SQL.

    ``batch=None``: everything in one transaction (the floor: no batch ever
    commits). ``batch=N``: the same batches as the purge, each its own
    transaction: N expired members at a time, then N expired rows at a time
    per table, as the issue asks of the purge; ``source`` names a batch's
    members (see :data:`BATCH_SOURCES`). ``sizes``: the batch sizes a time-sized
    purge chose, in order (members first, then rows), instead of one ``batch``.
    """
    from flask_avg.core.retention_categories import SEVEN_YEARS

    cut_m = AS_OF - timedelta(days=MEMBER_DAYS)
    params: dict[str, Any] = {
        "cm": cut_m,
        "cmt": datetime.combine(cut_m, datetime.min.time()),
        "ci": AS_OF - timedelta(days=max(3650, SEVEN_YEARS)),
        "cs": AS_OF - timedelta(days=SIGNUP_DAYS),
        "epoch": date(1900, 1, 1),
    }
    engine = sa.create_engine(url)
    pg = engine.dialect.name == "postgresql"
    statements = [
        sa.text(sql).bindparams(sa.bindparam("accounts", expanding=True))
        if ":accounts" in sql
        else sa.text(sql).bindparams(sa.bindparam("logins", expanding=True))
        if ":logins" in sql
        else sa.text(sql)
        for sql in _hand_statements(pg, *BATCH_SOURCES[source])
    ]
    temporary = source == "temporary table"
    started = time.perf_counter()
    with engine.connect() as conn:
        if temporary:
            conn.execute(
                sa.text(
                    "CREATE TEMPORARY TABLE gone "
                    f"(id INTEGER PRIMARY KEY, user_id INTEGER, login {'VARCHAR' if pg else 'TEXT'})"
                )
            )
            conn.commit()
        ids = list(conn.execute(sa.text(f"SELECT id {EXPIRED} ORDER BY id"), params).scalars())
        plan = list(sizes or [])
        fallback = batch or max(len(ids), 1)
        if sizes:
            batch = batch or plan[-1]

        def step() -> int:
            return max(1, plan.pop(0)) if plan else fallback

        start = 0
        while start < len(ids):
            end = min(start + step(), len(ids))
            span = {"lo": ids[start], "hi": ids[end - 1]}
            start = end
            where = f"{EXPIRED} AND id BETWEEN :lo AND :hi"
            values = {**params, **span}
            if temporary:
                login = f"CAST(user_id AS {'VARCHAR' if pg else 'TEXT'})"
                conn.execute(
                    sa.text(f"INSERT INTO gone SELECT id, user_id, {login} {where}"), values
                )
                conn.execute(sa.text("ANALYZE gone"))
            else:
                sql = f"SELECT user_id {where} AND user_id IS NOT NULL"
                values["accounts"] = list(conn.execute(sa.text(sql), values).scalars())
                values["logins"] = [str(k) for k in values["accounts"]]
            for stmt in statements:
                conn.execute(stmt, values)
            if temporary:
                conn.execute(sa.text("DELETE FROM gone"))
            if batch:
                conn.commit()
        for table, cond in ROWS:
            if not batch:
                conn.execute(sa.text(f"DELETE FROM {table} WHERE {cond}"), params)
                continue
            sql = f"SELECT id FROM {table} WHERE {cond} ORDER BY id"
            keys = list(conn.execute(sa.text(sql), params).scalars())
            start = 0
            while start < len(keys):
                end = min(start + (step() if sizes else batch), len(keys))
                span = {"lo": keys[start], "hi": keys[end - 1]}
                start = end
                sql = f"DELETE FROM {table} WHERE {cond} AND id BETWEEN :lo AND :hi"
                conn.execute(sa.text(sql), {**params, **span})
                conn.commit()
        # the external erasures done (the bench's members have no photo files)
        conn.execute(sa.text("DELETE FROM avg_external_erasure WHERE reason = 'retention'"))
        conn.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def run_orm_loop(url: str, sample: int) -> tuple[float, int]:
    """The naive way: per expired member, load every row and delete or blank it one by one."""
    from sqlalchemy import select

    from example_app.models import Member, db
    from flask_avg.features.retention.plan import Plan

    app = _app(url)
    with app.app_context():
        state = app.extensions["avg"]
        plan = Plan(state, AS_OF)
        ids = list(
            db.session.scalars(
                select(Member.id).where(plan.expired(state.registry.subject)).limit(sample)
            )
        )
        started = time.perf_counter()
        for member_id in ids:
            rows = state.resolver.rows_for(db.session, member_id)
            member = db.session.get(Member, member_id)
            user_id = member.user_id
            kept_invoices: set[int] = set()
            for model in plan.order:  # children first, as the foreign keys demand
                objs = rows[model]
                if model.is_subject:
                    continue
                for obj in objs:
                    if plan.held(model):
                        anchor = model.value(obj, model.policy.anchor)
                        if anchor >= plan.cutoff(model):
                            if model.name == "Payment":
                                kept_invoices.add(obj.invoice_id)
                            continue
                        if model.name == "Invoice" and obj.id in kept_invoices:
                            continue
                    if model.cls is None:
                        db.session.execute(
                            model.table.delete().where(
                                *(c == obj[c.name] for c in model.primary_key)
                            )
                        )
                    elif model.cls.__name__ != "User":
                        db.session.delete(obj)
                        db.session.flush()
            member.first_name = member.last_name = "anon"
            member.email = f"anon-{member.id}@anon.invalid"
            member.birth_date = member.phone = member.street = None
            member.postcode = member.city = member.iban = member.medical_notes = None
            member.start_date = date(1900, 1, 1)
            member.user_id = None
            db.session.flush()
            if user_id is not None:
                from example_app.models import User

                db.session.delete(db.session.get(User, user_id))
            db.session.commit()
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed, len(ids)


# -- driver ------------------------------------------------------------------------


def _time_sized(backend: Backend, n: int, repeat: int, floor: float, sizes: Sizes) -> None:
    """The purge with batches sized by time (``AVG_PURGE_BATCH_SECONDS``, 1 s by default;
    the smoke size asks 1 ms so that the sizes change) against hand-written SQL in the
    very batches it chose, and against the one-transaction floor."""
    seconds = 0.001 if sizes.members == SIZES["smoke"].members else 1.0
    best: dict[str, float] = {}
    left: dict[str, dict[str, int]] = {}
    chosen: list[int] = []
    for _ in range(repeat):
        elapsed, left["purge"] = _timed(
            backend, "timed", lambda url: run_engine(url, sizes.batch, seconds=seconds)[0]
        )
        best["purge"] = min(best.get("purge", elapsed), elapsed)
        chosen = list(LAST_BATCHES)
        for source in BATCH_SOURCES:
            elapsed, left[source] = _timed(
                backend,
                source,
                lambda url, s=source, c=chosen: run_hand_sql(url, None, s, sizes=c),
            )
            best[source] = min(best.get(source, elapsed), elapsed)
    for tag, counts in left.items():
        if counts != left["purge"]:
            raise AssertionError(
                f"time-sized batches: the purge left {left['purge']}, hand-written SQL "
                f"({tag}) {counts}"
            )
    source = min(BATCH_SOURCES, key=lambda name: best[name])
    shown = ", ".join(f"{k:,}" for k in chosen[:8]) + (", ..." if len(chosen) > 8 else "")
    print(
        f"  AVG_PURGE_BATCH_SECONDS={seconds:g} (first batch {sizes.batch:,}): purge "
        f"{best['purge']:.2f} s in {len(chosen)} transaction(s) of {shown}",
        flush=True,
    )
    print(
        f"    hand-written SQL in the same batches: {best[source]:.2f} s (batch named by "
        f"{source}): ratio {best['purge'] / best[source]:.2f}x (target <= 1.25x)",
        flush=True,
    )
    print(
        f"    against everything in one transaction ({floor:.2f} s): ratio "
        f"{best['purge'] / floor:.2f}x (target <= 1.3x)",
        flush=True,
    )


def _pg_reachable() -> bool:
    try:
        engine = sa.create_engine(sa.make_url(PG_URL).set(database="postgres"))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - no server, no PostgreSQL leg
        return False


def main(args: list[str]) -> None:
    sizes = SIZES[next((k for k in ("smoke", "full") if f"--{k}" in args), "default")]
    for arg in args:  # --members=10000 runs that one size
        if arg.startswith("--members="):
            sizes = Sizes((int(arg.split("=", 1)[1]),), sizes.batch, sizes.sample, sizes.repeat)
    kinds = [] if "--postgresql-only" in args else ["sqlite"]
    if "--sqlite-only" not in args and _pg_reachable():
        kinds.append("postgresql")
    with tempfile.TemporaryDirectory(prefix="avg-bench-") as tmp:
        # the purge asks the photos plugin to remove files: in a folder of the run's own
        CONFIG["CLUB_PHOTO_DIR"] = str(Path(tmp) / "photos")
        try:
            for kind in kinds:
                backend = Backend(kind, Path(tmp))
                try:
                    for n in sizes.members:
                        _one(backend, n, sizes, "--brief" in args)
                finally:
                    backend.close()
        finally:
            CONFIG.clear()


def _timed(backend: Backend, tag: str, run: Callable[[str], float]) -> tuple[float, dict[str, int]]:
    """Run ``run`` on a fresh copy; returns its time and the row counts it left."""
    url = backend.copy(tag.replace(" ", "_"))
    try:
        return run(url), _counts(url)
    finally:
        backend.drop(url)


def _other(source: str) -> str:
    return next(name for name in BATCH_SOURCES if name != source)


def _one(backend: Backend, n: int, sizes: Sizes, brief: bool = False) -> None:
    repeat = sizes.repeat if n <= 100_000 and not brief else 1
    started = time.perf_counter()
    backend.build(n)
    built = time.perf_counter() - started
    rows = sum(_counts(backend.template).values()) - _counts(backend.template)["anonymised"]
    print(f"{backend.kind}, {n:,} members, {rows:,} rows (built in {built:.1f} s)", flush=True)

    expired = 0

    def engine(batch: int) -> Callable[[str], float]:
        def run(url: str) -> float:
            nonlocal expired
            elapsed, expired = run_engine(url, batch)
            return elapsed

        return run

    floor = t_engine = 0.0
    for batch in (sizes.batch,) if brief else (sizes.batch, 10 * sizes.batch):
        best: dict[str, float] = {}
        left: dict[str, dict[str, int]] = {}
        contenders: dict[str, Callable[[str], float]] = {"purge": engine(batch)}
        for source in BATCH_SOURCES:
            contenders[source] = lambda url, b=batch, s=source: run_hand_sql(url, b, s)
        if batch == sizes.batch:
            contenders["one"] = run_hand_sql  # does not depend on the batch size
        for _ in range(repeat):  # best of `repeat`, each on a fresh copy, alternating
            for tag, run in contenders.items():
                elapsed, left[tag] = _timed(backend, tag, run)
                best[tag] = min(best.get(tag, elapsed), elapsed)
        if not expired:
            raise AssertionError(f"no member expired among {n:,}: the purge had nothing to do")
        for tag, counts in left.items():
            if counts != left["purge"]:
                raise AssertionError(
                    f"AVG_PURGE_BATCH_SIZE={batch:,}: the purge left {left['purge']}, "
                    f"hand-written SQL ({tag}) {counts}"
                )
        print(
            f"  AVG_PURGE_BATCH_SIZE={batch:,}: purge {best['purge']:.2f} s for {expired:,} "
            f"expired members (best of {repeat}), same result as by hand",
            flush=True,
        )
        # the faster of the two hand-written ways is the baseline
        source = min(BATCH_SOURCES, key=lambda name: best[name])
        print(
            f"    hand-written SQL, the same batches (one transaction each): {best[source]:.2f} s "
            f"(batch named by {source}; by {_other(source)}: {best[_other(source)]:.2f} s): "
            f"ratio {best['purge'] / best[source]:.2f}x (target <= 1.25x)",
            flush=True,
        )
        if "one" in best:
            floor, t_engine = best["one"], best["purge"]
            print(
                f"    hand-written SQL, everything in one transaction: {floor:.2f} s: "
                f"ratio {best['purge'] / floor:.2f}x (the price of committing batch by batch)",
                flush=True,
            )
        else:
            print(
                f"    against everything in one transaction: ratio {best['purge'] / floor:.2f}x",
                flush=True,
            )

    _time_sized(backend, n, repeat, floor, sizes)
    if brief:
        return

    url = backend.copy("orm")
    t_orm, sampled = run_orm_loop(url, sizes.sample)
    backend.drop(url)
    per_engine = t_engine / max(expired, 1)
    per_orm = t_orm / max(sampled, 1)
    print(
        f"  per-row ORM loop: {per_orm * 1000:.2f} ms per member on {sampled} members, "
        f"purge {per_engine * 1000:.3f} ms per member: factor {per_orm / per_engine:.0f}x",
        flush=True,
    )

    url = backend.copy("mem")
    peak, _n = run_engine(url, memory=True)
    backend.drop(url)
    print(f"  peak Python memory during the purge: {peak / 1e6:.1f} MB", flush=True)
