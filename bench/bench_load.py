"""Load harness: the example club under gunicorn, logged-in members at work while the
board erases members and a purge runs; then a consistency check.

``python -m bench load`` (2,000 members, 4 gunicorn workers, 50 clients, PostgreSQL
from ``AVG_BENCH_POSTGRESQL_URL`` in a database of its own), ``--full`` (20,000
members, longer runs), ``--smoke`` (a few seconds; ``make test`` runs it so the
harness cannot rot; with ``--sqlite-only`` on a SQLite file).

1. **Host-page overhead**: the same host page (``/host``: a logged-in page of the
   club's own) on the club with flask-avg and on the same host without
   ``avg.init_app`` (``bench/load_app.py``), runs interleaved; the ratio of their
   throughputs.
2. **Load**: every client is a member with a session of their own, asking for a host
   page, their data page (``/avg/me``) and their data as a download; meanwhile the
   board erases some of those members and the retention purge runs; some correct their
   phone number through ``/avg/me/edit``. Throughput and
   p95 per endpoint, and errors: a 5xx, a refused connection, or any answer other
   than the page (or, once the member is erased, the way out of it).
3. **Consistency**: no orphans (rows pointing at a member who is gone), no half-erased
   member (in the ledger but not anonymised), every erased member's session rejected,
   every correction the site acknowledged stored (the member's last acknowledged value
   is in their row, unless they were erased), the purge's and the erasures' counts equal
   to the rows gone from each declared model. Each check is printed; a failed one
   raises, so the process exits non-zero.
"""

from __future__ import annotations

import html
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

PG_URL = os.environ.get(
    "AVG_BENCH_POSTGRESQL_URL",
    os.environ.get("AVG_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)
DB_NAME = f"avg_bench_{os.getpid()}_load"
ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: the correction form's own fields (``f_<column>``) and their current values
FIELD = re.compile(r"<input\b[^>]*>")
ATTR = re.compile(r'(name|value)="([^"]*)"')
#: the field every correction changes
CORRECTED = "phone"


@dataclass(frozen=True)
class Sizes:
    members: int
    workers: int
    clients: int
    seconds: float
    rounds: int
    erasures: int


SIZES = {
    "smoke": Sizes(members=20, workers=2, clients=4, seconds=1.0, rounds=1, erasures=2),
    "default": Sizes(members=2000, workers=4, clients=50, seconds=8.0, rounds=3, erasures=20),
    "full": Sizes(members=20000, workers=4, clients=50, seconds=30.0, rounds=5, erasures=100),
}


# -- the database and the servers -------------------------------------------------------


def _database(tmp: Path, sqlite_only: bool) -> tuple[str, Callable[[], None]]:
    """This run's database URL and how to drop it."""
    if sqlite_only:
        return f"sqlite:///{tmp / 'load.db'}", lambda: None
    admin = sa.create_engine(
        sa.make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {DB_NAME}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        admin.dispose()

    return sa.make_url(PG_URL).set(database=DB_NAME).render_as_string(False), drop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """gunicorn serving ``bench/load_app.py`` with or without flask-avg."""

    def __init__(self, url: str, tmp: Path, *, with_avg: bool, workers: int) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AVG_LOAD_DB": url,
            "AVG_LOAD_WITH_AVG": "1" if with_avg else "0",
            "AVG_LOAD_INSTANCE": str(tmp / "instance"),
        }
        args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b"]
        args += [f"127.0.0.1:{self.port}", "--log-level", "warning", "bench.load_app:create()"]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _h, _b = request(self.port, "GET", "/host", {})
                if status in (200, 401):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


_conns = threading.local()


def request(
    port: int, method: str, path: str, cookies: dict[str, str], body: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on this thread's keep-alive connection; cookies are updated in place."""
    key = f"c{port}"
    conn = getattr(_conns, key, None)
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        setattr(_conns, key, conn)
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (http.client.HTTPException, OSError):
        conn.close()
        setattr(_conns, key, None)
        raise
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            cookie, _sep, _rest = value.partition(";")
            k, _eq, v = cookie.partition("=")
            if v:
                cookies[k.strip()] = v.strip()
            else:
                cookies.pop(k.strip(), None)
    return response.status, dict(response.getheaders()), data


# -- the club -----------------------------------------------------------------------------


def _club(url: str, tmp: Path, n: int) -> tuple[Any, list[tuple[int, int, str]]]:
    """The club app (in this process, for the board's work) and (member, user, cookie)."""
    from bench.load_app import CONFIG
    from example_app import create_app
    from example_app.demo import seed
    from example_app.models import Member, User, db
    from flask_avg.core.models import AvgBase
    from flask_avg.features.acl.service import ensure_default_groups

    app = create_app(
        {**CONFIG, "SQLALCHEMY_DATABASE_URI": url}, instance_path=str(tmp / "instance")
    )
    people = []
    with app.app_context():
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        ensure_default_groups(db.session)
        db.session.commit()
        seed(n_members=n)
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        rows = db.session.execute(
            sa.select(Member.id, User).join(User, User.id == Member.user_id).order_by(Member.id)
        ).all()
        for member_id, user in rows:
            cookie = serializer.dumps({"_user_id": user.get_id(), "_fresh": True})
            people.append((int(member_id), int(user.id), cookie))
    return app, people


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Tally:
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    #: the first few errors: (endpoint, status or exception, start of the body)
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, endpoint: str, seconds: float, ok: bool, what: str = "", body: bytes = b""
    ) -> None:
        with self.lock:
            self.times.setdefault(endpoint, []).append(seconds)
            if not ok:
                self.errors[endpoint] = self.errors.get(endpoint, 0) + 1
                if len(self.seen) < 5:
                    self.seen.append((endpoint, what, body[:300].decode("utf-8", "replace")))


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20)[-1]


def _hammer(port: int, cookies: list[dict[str, str]], seconds: float, tally: Tally) -> None:
    """Every client asks for the host page as fast as it can, for ``seconds``."""
    stop = time.monotonic() + seconds

    def client(jar: dict[str, str]) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status, _h, _b = request(port, "GET", "/host", jar)
                ok = status == 200
            except OSError:
                ok = False
            tally.add("/host", time.perf_counter() - started, ok)

    threads = [threading.Thread(target=client, args=(jar,)) for jar in cookies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def overhead(
    with_avg: Server, bare: Server, people: list[tuple[int, int, str]], sizes: Sizes
) -> float:
    """Throughput of the host page with flask-avg over without, runs interleaved."""
    jars = [{"session": cookie} for _m, _u, cookie in people[: sizes.clients]]
    totals = {"with": 0, "without": 0}
    seconds = {"with": 0.0, "without": 0.0}
    p95 = {"with": [], "without": []}  # type: dict[str, list[float]]
    for _ in range(sizes.rounds):
        for name, server in (("with", with_avg), ("without", bare)):
            tally = Tally()
            started = time.perf_counter()
            _hammer(server.port, [dict(j) for j in jars], sizes.seconds, tally)
            seconds[name] += time.perf_counter() - started
            done = tally.times.get("/host", [])
            if tally.errors:
                raise AssertionError(f"host page {name} flask-avg: {tally.errors} errors")
            totals[name] += len(done)
            p95[name].extend(done)
    rate = {k: totals[k] / seconds[k] for k in totals}
    ratio = rate["with"] / rate["without"]
    print(
        f"   host page, {len(jars)} logged-in clients: with flask-avg {rate['with']:.0f} req/s "
        f"(p95 {_p95(p95['with']) * 1000:.1f} ms), without {rate['without']:.0f} req/s "
        f"(p95 {_p95(p95['without']) * 1000:.1f} ms): throughput ratio {ratio:.2f}x"
    )
    return ratio


@dataclass
class Outcome:
    """What the load did, for the consistency checks."""

    erased: set[int] = field(default_factory=set)
    #: member -> the last value of :data:`CORRECTED` the site acknowledged (a redirect
    #: to the member's page after "saved")
    corrected: dict[int, str] = field(default_factory=dict)
    corrections: int = 0
    #: model name -> rows the board's erasures removed
    erased_rows: dict[str, int] = field(default_factory=dict)
    #: model name -> rows the purge deleted (None when it did not run)
    purged_rows: dict[str, int] | None = None


def _correct(port: int, jar: dict[str, str], value: str) -> tuple[int, dict[str, str], bytes]:
    """Post the correction form with :data:`CORRECTED` set to ``value`` and every other
    field as the form shows it."""
    status, headers, body = request(port, "GET", "/avg/me/edit", jar)
    page = body.decode("utf-8", "replace")
    token = TOKEN.search(page)
    if status != 200 or token is None:
        return status, headers, body
    form = {"csrf_token": token.group(1)}
    for tag in FIELD.findall(page):
        attrs = dict(ATTR.findall(tag))
        name = attrs.get("name", "")
        if name.startswith("f_") or name == "subject":
            form[name] = html.unescape(attrs.get("value", ""))
    form[f"f_{CORRECTED}"] = value
    return request(port, "POST", "/avg/me/edit", jar, urlencode(form))


def load(app: Any, server: Server, people: list[tuple[int, int, str]], sizes: Sizes) -> Outcome:
    """Members at work while the board erases some of them and a purge runs."""
    rng = random.Random(2026)
    clients = people[: sizes.clients]
    doomed = {m for m, _u, _c in rng.sample(clients, min(sizes.erasures, len(clients)))}
    outcome = Outcome()
    erased = outcome.erased
    erased_lock = threading.Lock()
    tally = Tally()
    stop = time.monotonic() + sizes.seconds * 2

    def client(member: int, cookie: str) -> None:
        jar = {"session": cookie}
        pick = random.Random(member)
        tries = 0
        while time.monotonic() < stop:
            roll = pick.random()
            endpoint = (
                "/host"
                if roll < 0.45
                else "/avg/me"
                if roll < 0.7
                else "correction"
                if roll < 0.85
                else "download"
            )
            with erased_lock:
                gone = member in erased
            started = time.perf_counter()
            status, body, what, value = 0, b"", "", ""
            try:
                if endpoint == "download":
                    status, _h, body = request(server.port, "GET", "/avg/me/export", jar)
                    found = TOKEN.search(body.decode("utf-8", "replace"))
                    if status == 200 and found:
                        form = f"format=json&csrf_token={found.group(1)}"
                        status, _h, body = request(server.port, "POST", "/avg/me/export", jar, form)
                elif endpoint == "correction":
                    tries += 1
                    value = f"06{member % 10_000:04d}{tries:04d}"
                    status, headers, body = _correct(server.port, jar, value)
                    if status == 302 and headers.get("Location", "").rstrip("/").endswith(
                        "/avg/me"
                    ):
                        with erased_lock:
                            outcome.corrected[member] = value
                            outcome.corrections += 1
                        status = 200
                else:
                    status, _h, body = request(server.port, "GET", endpoint, jar)
                ok = status == 200 or (gone and status in (302, 401, 404))
                if not ok and member in doomed and status in (302, 401, 404, 410):
                    ok = True  # erased while this request was under way
                what = str(status)
            except OSError as exc:
                ok, what = False, repr(exc)
            tally.add(endpoint, time.perf_counter() - started, ok, what, body)

    def board() -> None:
        with app.app_context():
            state = app.extensions["avg"]
            for member in sorted(doomed):
                time.sleep(sizes.seconds * 1.5 / max(len(doomed), 1))
                # the board waits for a purge under way, as the CLI's --wait does
                result = state.erase_subject(member, actor="load-bench", wait=600)
                state.db.session.commit()
                with erased_lock:
                    erased.add(member)
                    for model, counts in result.summary().items():
                        removed = counts.get("removed", 0)
                        outcome.erased_rows[model] = outcome.erased_rows.get(model, 0) + removed
            state.db.session.remove()

    def purge() -> None:
        time.sleep(sizes.seconds / 4)
        with app.app_context():
            state = app.extensions["avg"]
            result = state.purge(actor="load-bench")
            state.db.session.commit()
            state.db.session.remove()
        rows: dict[str, int] = {}
        for models in result.categories.values():
            for model, counts in models.items():
                rows[model] = rows.get(model, 0) + counts.deleted
        outcome.purged_rows = rows

    def failing_loudly(work: Callable[[], None], name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except Exception as exc:
                tally.add(name, 0.0, False, repr(exc))
                raise

        return run

    threads = [threading.Thread(target=client, args=(m, c)) for m, _u, c in clients]
    threads += [
        threading.Thread(target=failing_loudly(board, "board")),
        threading.Thread(target=failing_loudly(purge, "purge")),
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for endpoint, times in sorted(tally.times.items()):
        print(
            f"   {endpoint:14s} {len(times) / elapsed:7.1f} req/s   p95 {_p95(times) * 1000:7.1f} ms"
            f"   errors {tally.errors.get(endpoint, 0)}"
        )
    errors = sum(tally.errors.values())
    print(
        f"   {len(clients)} clients, {len(erased)} erased meanwhile, a purge, "
        f"{outcome.corrections} corrections acknowledged: {errors} errors"
    )
    for endpoint, what, body in tally.seen:
        print(f"   error: {endpoint} {what} {body!r}")
    if errors:
        raise AssertionError(f"load: {tally.errors} errors")
    return outcome


def row_counts(app: Any) -> dict[str, int]:
    """The rows of every declared model, by model name."""
    with app.app_context():
        state = app.extensions["avg"]
        session = state.db.session
        counts = {
            model.name: int(
                session.scalar(sa.select(sa.func.count()).select_from(model.table)) or 0
            )
            for model in state.registry
        }
        session.remove()
    return counts


def consistency(
    app: Any,
    server: Server,
    people: list[tuple[int, int, str]],
    outcome: Outcome,
    before: dict[str, int],
) -> None:
    """No orphans, no half-erased member, every erased member's session rejected, every
    acknowledged correction stored, the purge's counts equal to the rows gone."""
    erased = outcome.erased
    from flask_avg.features.retention.models import LedgerEntry
    from flask_avg.features.retention.plan import Plan

    with app.app_context():
        state = app.extensions["avg"]
        session = state.db.session
        subject = state.registry.subject
        pk = subject.primary_key[0]
        orphans = 0
        for model in state.registry:
            for fk in model.table.foreign_keys:
                if fk.column.table is not subject.table:
                    continue
                col = fk.parent
                orphans += int(
                    session.scalar(
                        sa.select(sa.func.count())
                        .select_from(model.table)
                        .where(col.is_not(None), col.not_in(sa.select(pk)))
                    )
                    or 0
                )
        keys = {
            k
            for k, a in session.execute(
                sa.select(LedgerEntry.key, LedgerEntry.action).where(
                    LedgerEntry.model == subject.name
                )
            )
            if a != "reused"
        }
        plan = Plan(state, __import__("datetime").date.today())
        half = 0
        if keys and plan.values(subject):
            typed = [pk.type.python_type(k) for k in keys]
            half = int(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(subject.table)
                    .where(pk.in_(typed), plan.not_anonymised(subject))
                )
                or 0
            )
        missing = {str(m) for m in erased} - keys
        # every correction the site acknowledged is what the member's row holds now
        # (members erased meanwhile, by the board or the purge, have nothing left to hold it)
        kept = {m: v for m, v in outcome.corrected.items() if str(m) not in keys}
        stored = dict(
            session.execute(
                sa.select(pk, subject.table.c[CORRECTED]).where(pk.in_(list(kept)))
            ).all()
        )
        lost = sorted(m for m, value in kept.items() if stored.get(m) != value)
        session.remove()
    # the rows gone from each declared model (the host's tables of personal data) are the
    # rows the purge and the board's erasures say they deleted: nothing else deletes or
    # adds any during the load (plugins' own tables are counted by their plugins)
    after = row_counts(app)
    purged = outcome.purged_rows or {}
    mismatched = {
        name: (
            before[name] - after[name],
            purged.get(name, 0),
            outcome.erased_rows.get(name, 0),
        )
        for name in before
        if before[name] - after[name] != purged.get(name, 0) + outcome.erased_rows.get(name, 0)
    }
    rejected = 0
    for member, _u, cookie in people:
        if member in erased:
            status, _h, _b = request(server.port, "GET", "/avg/me", {"session": cookie})
            rejected += status in (302, 401)
    checks = [
        ("no orphan rows", not orphans, f"{orphans} orphan rows"),
        ("no half-erased member", not half, f"{half} half-erased members"),
        ("every erasure in the ledger", not missing, f"{len(missing)} missing"),
        (
            "erased sessions rejected",
            rejected == len(erased),
            f"{rejected} of {len(erased)} rejected",
        ),
        (
            "every acknowledged correction stored",
            not lost,
            f"{len(kept) - len(lost)} of {len(kept)} members' last corrections stored",
        ),
        (
            "purge counts equal rows gone",
            outcome.purged_rows is not None and not mismatched,
            f"{sum(purged.get(n, 0) for n in before)} rows purged, "
            f"{sum(outcome.erased_rows.get(n, 0) for n in before)} erased, "
            f"{sum(before.values()) - sum(after.values())} gone"
            + (f"; per model (gone, purged, erased): {mismatched}" if mismatched else ""),
        ),
    ]
    for label, passed, detail in checks:
        print(f"   consistency: {label:38s} {'ok' if passed else 'FAILED'}  ({detail})")
    failed = [label for label, passed, _detail in checks if not passed]
    if failed:
        raise AssertionError(f"the load left the club inconsistent: {', '.join(failed)}")


def main(args: list[str]) -> None:
    size = "smoke" if "--smoke" in args else "full" if "--full" in args else "default"
    sizes = SIZES[size]
    sqlite_only = "--sqlite-only" in args
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        url, drop = _database(tmp, sqlite_only)
        servers: list[Server] = []
        try:
            app, people = _club(url, tmp, sizes.members)
            print(
                f"   {'SQLite' if sqlite_only else 'PostgreSQL'}, {len(people)} members with "
                f"a login, gunicorn with {sizes.workers} workers"
            )
            with_avg = Server(url, tmp, with_avg=True, workers=sizes.workers)
            servers.append(with_avg)
            bare = Server(url, tmp, with_avg=False, workers=sizes.workers)
            servers.append(bare)
            overhead(with_avg, bare, people, sizes)
            bare.stop()
            before = row_counts(app)
            outcome = load(app, with_avg, people, sizes)
            consistency(app, with_avg, people, outcome, before)
            with app.app_context():
                app.extensions["sqlalchemy"].engine.dispose()
        finally:
            for server in servers:
                server.stop()
            drop()
