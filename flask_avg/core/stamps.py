"""Version stamps: one cheap statement tells a process whether its caches still hold.

Some answers flask-avg needs on every request of a logged-in user change rarely:
the group tree (changes when the board edits groups or rules) and the erasure
ledger (changes when somebody is erased). Each such source has a row in
``avg_stamp`` whose token is replaced, in the same transaction, by every change
to it (:func:`bump`). A process caches what it worked out under the token it read
*before* working it out (:meth:`Stamps.cached`); while the tokens stay the same,
the cache answers and no other statement runs.

The stamps are read in one statement, at most once per request (cached in ``g``).
Bumping takes the row's lock until the transaction ends, so changes to one source
commit one after another and a token read always covers every change committed
before it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import g, has_app_context
from sqlalchemy import String, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from flask_avg.core.models import AvgBase

T = TypeVar("T")

_G_KEY = "_avg_stamps"
#: ``session.info`` key: the stamps this transaction changed, written at its commit
_PENDING = "avg_stamps_pending"
#: at most this many answers per stamp and process; the cache is emptied when full
MAX_CACHED = 50_000

#: the stamps flask-avg itself keeps
ACL = "acl"
ERASURE = "erasure"


class Stamp(AvgBase):
    """One source of cached answers and its current token (a new one on every change)."""

    __tablename__ = "avg_stamp"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(32), nullable=False)


@event.listens_for(Stamp.__table__, "after_create")
def _seed(table: Any, connection: Any, **_kw: Any) -> None:
    connection.execute(
        table.insert(), [{"name": n, "token": uuid.uuid4().hex} for n in (ACL, ERASURE)]
    )


def bump(session: Session, name: str) -> None:
    """Give stamp ``name`` a new token when ``session``'s transaction commits.

    Call it in the transaction that changes the source, so the change and the new
    token commit together; every process notices on its next request. The token
    is written last, just before the commit: the row's lock is then the last one
    the transaction takes, so two transactions bumping it never deadlock.
    """
    session.info.setdefault(_PENDING, set()).add(name)
    if has_app_context():
        g.pop(_G_KEY, None)


@event.listens_for(Session, "before_commit")
def _write_tokens(session: Session) -> None:
    # the commit's own flush comes after this hook: changes it holds may bump too
    if session.new or session.dirty or session.deleted:
        session.flush()
    pending = session.info.pop(_PENDING, None)
    for name in sorted(pending or ()):
        token = uuid.uuid4().hex
        done = session.execute(
            update(Stamp).where(Stamp.name == name).values(token=token),
            execution_options={"synchronize_session": False},
        )
        if not getattr(done, "rowcount", 1):  # the row is missing (a table emptied by hand)
            session.merge(Stamp(name=name, token=token))
            session.flush()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    session.info.pop(_PENDING, None)


_READ = select(Stamp.__table__.c.name, Stamp.__table__.c.token)


class Stamps:
    """The stamps of one app (``state.stamps``) and the answers cached under them."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session = session_factory
        self._cache: dict[str, tuple[str, dict[Hashable, Any]]] = {}
        self._lock = threading.Lock()
        #: the stamps' SELECT as text, by dialect name
        self._sql: dict[str, str] = {}

    def current(self) -> dict[str, str]:
        """Every stamp's token: one statement, once per request."""
        found = g.get(_G_KEY) if has_app_context() else None
        if found is None:
            # the statement's text as the driver takes it, compiled once per dialect: the
            # least work per request SQLAlchemy allows, still seen by its events (statement
            # counts, tracing); no autoflush (a change of this transaction is never read
            # from here: see pending())
            session = self._session()
            conn = session.connection(bind_arguments={"clause": _READ})
            sql = self._sql.get(conn.dialect.name)
            if sql is None:
                sql = self._sql[conn.dialect.name] = str(_READ.compile(dialect=conn.dialect))
            found = {name: token for name, token in conn.exec_driver_sql(sql)}
            if has_app_context():
                setattr(g, _G_KEY, found)
        return found  # type: ignore[no-any-return]

    def get(self, name: str) -> str:
        """The token of stamp ``name``; ``""`` while its row is missing (an emptied
        table): the first bump writes the row, which changes the token too."""
        return self.current().get(name, "")

    def cached(self, name: str, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s answer for ``key``, reused while stamp ``name`` is unchanged.

        The token is read before ``compute`` runs, so a change committed meanwhile
        comes with a new token and the answer is not reused. A transaction that
        bumped a stamp itself sees what it has not committed: its answers are
        never kept.
        """
        token = self.get(name)
        if self.pending(name):
            return compute()
        slot = self._cache.get(name)
        if slot is not None and slot[0] == token and key in slot[1]:
            return slot[1][key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            slot = self._cache.get(name)
            if slot is None or slot[0] != token or len(slot[1]) >= MAX_CACHED:
                slot = (token, {})
                self._cache[name] = slot
            slot[1][key] = value
        return value

    def pending(self, name: str) -> bool:
        """Whether the current transaction changed stamp ``name``'s source: its own
        uncommitted changes are seen by nobody else, and are never cached."""
        return name in self._session().info.get(_PENDING, ())

    def forget(self) -> None:
        """Drop this process's cached answers (tests, and after restoring a backup)."""
        with self._lock:
            self._cache.clear()
        if has_app_context():
            g.pop(_G_KEY, None)
