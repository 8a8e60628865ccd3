"""The purge lock: two purges on different machines never work at the same time.

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``), on a
  connection of its own that stays open for the whole purge;
* MariaDB/MySQL: a named lock (``GET_LOCK``) named after the database, likewise;
* SQLite (one machine by nature): an exclusive ``flock`` on a file beside the
  database file (``club.db.avg-purge.lock``); where there is no such file (an
  in-memory database) or no ``flock`` (Windows), a row in ``avg_purge_lock``
  with an expiry, inserted under its primary key and refreshed with every batch.

Server locks vanish with the connection and a ``flock`` with the process, so a
purge killed with SIGKILL never leaves a stale lock; taking either costs no
write to the database. A lock row left by a killed purge expires after
:data:`TTL`, or is taken over at once on the same machine.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from flask_avg.core.types import utcnow
from flask_avg.features.retention.models import PurgeLock

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock row instead
    fcntl = None  # type: ignore[assignment]

NAME = "avg_purge"
PG_KEY = 0x41564750  # "AVGP"
TTL = timedelta(minutes=15)


class PurgeLocked(RuntimeError):
    """Another purge holds the lock (and we were not asked to wait long enough)."""


class Lock:
    def __init__(self, state: AvgState, *, wait: float = 0.0) -> None:
        self.state = state
        self.wait = wait
        self.engine = state.db.engine
        self.dialect = self.engine.dialect.name
        self.holder = f"{socket.gethostname()}:{os.getpid()}"[:120]
        self._conn: Any = None
        self._path = _lock_file(self.engine) if self.dialect == "sqlite" else None
        self._fd: int | None = None
        #: SQLite without a lock file: the expiring row in ``avg_purge_lock``
        self._by_row = self.dialect == "sqlite" and self._path is None

    def __enter__(self) -> Lock:
        deadline = time.monotonic() + self.wait
        while not self._try():
            if time.monotonic() >= deadline:
                self._close()
                raise PurgeLocked(
                    "another purge is running (lock held); try again later or pass --wait"
                )
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _try(self) -> bool:
        if self.dialect == "postgresql":
            return self._server("SELECT pg_try_advisory_lock(:k)", {"k": PG_KEY})
        if self.dialect in ("mysql", "mariadb"):
            return self._server("SELECT GET_LOCK(:k, 0)", {"k": self._named()})
        if self._path is not None:
            return self._file()
        return self._row()

    def _file(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)  # type: ignore[arg-type]
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another purge (another process, or another Lock here)
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _named(self) -> str:
        """MariaDB's named locks are server-wide (PostgreSQL's advisory locks are per
        database): the name carries the database, so two clubs on one server never
        wait for each other's purge."""
        return f"{NAME}:{self.engine.url.database or ''}"[:64]

    def _server(self, sql: str, params: dict[str, Any]) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return bool(self._conn.execute(text(sql), params).scalar())

    def _row(self) -> bool:
        now = utcnow()
        table: Any = PurgeLock.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.name == NAME, table.c.expires_at < now))
                conn.execute(
                    insert(table).values(name=NAME, holder=self.holder, expires_at=now + TTL)
                )
        except IntegrityError:
            return self._take_over_dead()
        return True

    def _take_over_dead(self) -> bool:
        """Free a lock row left by a purge on this machine that was killed (SIGKILL)."""
        table: Any = PurgeLock.__table__
        with self.engine.begin() as conn:
            holder = conn.execute(select(table.c.holder).where(table.c.name == NAME)).scalar()
        host, _, pid = str(holder or "").rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            return False
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == NAME, table.c.holder == holder))
        return self._row()

    def refresh(self, session: Any) -> None:
        """Push the lock row's expiry on, in the batch's own transaction."""
        if self._by_row:
            table: Any = PurgeLock.__table__
            session.execute(
                update(table)
                .where(table.c.name == NAME, table.c.holder == self.holder)
                .values(expires_at=utcnow() + TTL)
            )

    def release(self) -> None:
        if self.dialect == "postgresql" and self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_KEY})
        elif self.dialect in ("mysql", "mariadb") and self._conn is not None:
            self._conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": self._named()})
        elif self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        elif self._by_row:
            table: Any = PurgeLock.__table__
            with self.engine.begin() as conn:
                conn.execute(
                    delete(table).where(table.c.name == NAME, table.c.holder == self.holder)
                )
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _lock_file(engine: Any) -> str | None:
    """The lock file beside a SQLite database file; None for an in-memory database."""
    database = engine.url.database or ""
    if fcntl is None or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return os.path.abspath(database) + ".avg-purge.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
