"""The audit log core: append-only records of who did what to whose data.

Entries hold the actor's account key (primary key, never a token), an action name, the subject's key, the
model and the *names* of the fields involved, and a small detail dict of
counts and reasons. Never the personal values themselves: an audit log that
copies personal data becomes a second place to erase it from.

Logins are recorded through :meth:`AuditLog.login_failed` and
:meth:`AuditLog.login_succeeded`, which a host calls from its own login view: a
failed attempt names the account by its key, or an unknown address by a keyed
hash (never the address typed), so repeated attempts can be told apart.

Every entry is sealed into a hash chain as it is written: ``hash`` is SHA-256 over
the previous entry's hash and the entry's canonical content (:func:`canonical`).
Appends take turns on one lock row (``avg_audit_chain``), so two writers never
link to the same predecessor. :func:`chain_head` is the newest link, to be kept
outside the database; ``flask avg audit verify`` walks the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context, request
from flask_login import current_user
from sqlalchemy import event, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from flask_avg.core.config import config_value
from flask_avg.core.identity import user_key
from flask_avg.core.models import AuditChainLock, AuditEntry
from flask_avg.core.signals import audit_recorded
from flask_avg.core.subjects import acting_for
from flask_avg.core.types import utcnow

#: the ``prev_hash`` of the first entry ever written
GENESIS = "0" * 64
CHAIN_VERSION = "1"
#: the fields a link covers, in order (the id is not: the position in the chain is)
CHAINED = ("at", "actor", "action", "outcome", "subject", "model", "fields", "detail_json", "ip")

_SAFE_DETAIL = (int, float, bool, type(None), date, datetime)
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def login_hash(login: str) -> str:
    """A short keyed hash of a typed login (an e-mail address): the same address gives
    the same hash in one app, and nobody without the app's secret key can test guesses."""
    key = str(current_app.config.get("SECRET_KEY") or "").encode()
    digest = hmac.new(key, login.strip().lower().encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def current_actor() -> str | None:
    """The logged-in user's account key, or None outside a request or when anonymous."""
    if not has_request_context():
        return None
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user_key(user)


def _check_detail(detail: dict[str, Any]) -> str | None:
    """Serialise ``detail``; values must be numbers, dates, short codes or lists of them."""
    if not detail:
        return None

    def ok(value: Any) -> bool:
        if isinstance(value, _SAFE_DETAIL):
            return True
        if isinstance(value, str):
            return len(value) <= 200
        if isinstance(value, list | tuple):
            return all(ok(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and ok(v) for k, v in value.items())
        return False

    for key, value in detail.items():
        if not ok(value):
            raise ValueError(f"audit detail {key!r} must be counts, dates or short codes")
    return json.dumps(detail, sort_keys=True, default=str)


class AuditLog:
    def __init__(self, session_factory: Any, engine_factory: Any) -> None:
        self._session = session_factory
        self._engine = engine_factory

    @property
    def session(self) -> Session:
        return self._session()  # type: ignore[no-any-return]

    def _values(
        self,
        action: str,
        *,
        subject: Any,
        model: str | None,
        fields: Iterable[str] | None,
        outcome: str,
        detail: dict[str, Any] | None,
        actor: str | None,
    ) -> dict[str, Any]:
        ip = None
        if has_request_context() and config_value("AUDIT_IP"):
            ip = request.remote_addr
        acting = acting_for()
        if acting is not None and subject is not None and str(subject) == acting["subject"]:
            # who acted on whose behalf: the actor is the guardian, the subject the child
            detail = {**(detail or {}), "on_behalf": acting["role"]}
        return {
            "at": utcnow(),
            "actor": actor if actor is not None else current_actor(),
            "action": action,
            "outcome": outcome,
            "subject": None if subject is None else str(subject),
            "model": model,
            "fields": ",".join(sorted(fields)) if fields else None,
            "detail_json": _check_detail(detail or {}),
            "ip": ip,
        }

    def record(
        self,
        action: str,
        *,
        subject: Any = None,
        model: str | None = None,
        fields: Iterable[str] | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
        outcome: str = "ok",
    ) -> AuditEntry:
        """Add an entry to the current transaction: it commits with the change it records."""
        entry = AuditEntry(
            **self._values(
                action,
                subject=subject,
                model=model,
                fields=fields,
                outcome=outcome,
                detail=detail,
                actor=actor,
            )
        )
        self.session.add(entry)
        audit_recorded.send(current_app._get_current_object(), entry=entry)  # type: ignore[attr-defined]
        return entry

    def login_failed(
        self, *, user: Any = None, login: str | None = None, reason: str = "wrong_password"
    ) -> None:
        """Record a failed login, in a transaction of its own (call it from the host's
        login view). ``user`` is the account when the address was known, ``login`` what
        was typed otherwise: only its :func:`login_hash` is kept. ``reason`` is a short
        code: ``unknown_account``, ``wrong_password``, ``inactive``, ``throttled``, ...
        """
        if not _REASON.match(reason):
            raise ValueError("a login failure's reason is a short code such as 'wrong_password'")
        detail: dict[str, Any] = {"reason": reason}
        key = user_key(user) if user is not None else None
        if key is not None:
            detail["account"] = key
        elif login:
            detail["login_hash"] = login_hash(login)
        self.denied("login.failed", detail=detail, actor=None)

    def login_succeeded(self, user: Any) -> None:
        """Record a successful login of ``user``, in a transaction of its own."""
        values = self._values(
            "login.succeeded",
            subject=None,
            model=None,
            fields=None,
            outcome="ok",
            detail=None,
            actor=user_key(user),
        )
        with self._engine().begin() as conn:
            conn.execute(insert(AuditEntry.__table__), seal(conn, values))  # type: ignore[arg-type]

    def denied(
        self,
        action: str,
        *,
        subject: Any = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Record a refused attempt in a transaction of its own.

        The request that was refused is about to be rolled back; its denial
        must still be kept (seed 004, annex 2: logging of access attempts).
        """
        values = self._values(
            action,
            subject=subject,
            model=None,
            fields=None,
            outcome="denied",
            detail=detail,
            actor=actor,
        )
        with self._engine().begin() as conn:
            conn.execute(insert(AuditEntry.__table__), seal(conn, values))  # type: ignore[arg-type]


# -- the hash chain ------------------------------------------------------------------


def canonical(values: Any) -> str:
    """The text an entry's hash covers: its fields as a JSON list, the time to the
    second in naive UTC (what every database keeps the same)."""
    get = values.get if isinstance(values, dict) else lambda k: getattr(values, k)
    at = get("at")
    if isinstance(at, datetime):
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        at = at.replace(microsecond=0).isoformat()
    parts = [CHAIN_VERSION, *(at if k == "at" else get(k) for k in CHAINED)]
    if parts[4] is None:
        parts[4] = "ok"  # the column's default outcome
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"), default=str)


def link(prev_hash: str, values: Any) -> str:
    """The hash of an entry whose predecessor's hash is ``prev_hash``."""
    text = prev_hash + "\n" + canonical(values)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _take_turn(conn: Connection) -> None:
    """Lock the chain's row until this transaction ends (created on first use)."""
    lock: Any = AuditChainLock.__table__
    # an update to the same value still takes the row's write lock (and SQLite's)
    bump = update(lock).where(lock.c.id == 1).values(id=lock.c.id)
    if conn.execute(bump).rowcount:
        return
    name = conn.dialect.name
    row = {"id": 1}
    stmt: Any
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(lock).values(row).on_conflict_do_nothing()
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(lock).values(row).on_conflict_do_nothing()
    elif name in ("mysql", "mariadb"):
        stmt = insert(lock).values(row).prefix_with("IGNORE")
    else:
        stmt = insert(lock).values(row)
    conn.execute(stmt)
    conn.execute(bump)


def _last_hash(conn: Connection) -> str:
    table: Any = AuditEntry.__table__
    # a locking read: MariaDB's repeatable read would otherwise see an older snapshot
    last = conn.execute(
        select(table.c.hash)
        .where(table.c.hash.is_not(None))
        .order_by(table.c.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar()
    return str(last) if last else GENESIS


def seal(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Fill in ``prev_hash`` and ``hash`` of an entry about to be inserted on ``conn``;
    holds the chain's lock until the transaction ends."""
    _take_turn(conn)
    values.setdefault("at", utcnow())
    values.setdefault("outcome", "ok")
    prev = _last_hash(conn)
    values["prev_hash"] = prev
    values["hash"] = link(prev, values)
    return values


@event.listens_for(Session, "before_flush")
def _seal_new_entries(session: Session, _context: Any, _instances: Any) -> None:
    """Seal the audit entries a flush is about to insert, in the order they were added
    (one flush inserts them all at once, so each links to the one before it here)."""
    new = [obj for obj in session.new if isinstance(obj, AuditEntry) and obj.hash is None]
    if not new:
        return
    new.sort(key=lambda obj: sa_inspect(obj).insert_order or 0)
    conn = session.connection(bind_arguments={"mapper": sa_inspect(AuditEntry)})
    _take_turn(conn)
    prev = _last_hash(conn)
    for entry in new:
        prev = _seal_object(entry, prev)


def _seal_object(entry: AuditEntry, prev: str) -> str:
    if entry.at is None:
        entry.at = utcnow()
    if entry.outcome is None:
        entry.outcome = "ok"
    entry.prev_hash = prev
    entry.hash = link(prev, entry)
    return entry.hash


@event.listens_for(AuditEntry, "before_insert")
def _seal_late_entry(mapper: Any, connection: Connection, target: AuditEntry) -> None:
    """An entry added during a flush (by another flush hook) is sealed on its own."""
    if target.hash is None:
        _take_turn(connection)
        _seal_object(target, _last_hash(connection))


def chain_head(session: Any = None) -> dict[str, Any]:
    """The newest link of the chain: ``{"id", "hash", "at"}`` (id None on an empty log).

    Write it somewhere the database's users cannot (with the erasure ledger export,
    a mail to the board): ``flask avg audit verify --head`` then proves the chain was
    not rewritten since, which the chain alone cannot.
    """
    if session is None:
        session = current_app.extensions["avg"].db.session
    table: Any = AuditEntry.__table__
    row = session.execute(
        select(table.c.id, table.c.hash, table.c.at)
        .where(table.c.hash.is_not(None))
        .order_by(table.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"id": None, "hash": GENESIS, "at": None}
    return {"id": row.id, "hash": row.hash, "at": row.at.isoformat()}


def write_chain_head(path: str | Path, session: Any = None) -> dict[str, Any]:
    """Write :func:`chain_head` as JSON to ``path`` (beside the erasure ledger's export);
    ``flask avg audit verify --head PATH`` checks the chain still holds it."""
    head = chain_head(session)
    Path(path).write_text(json.dumps(head, sort_keys=True) + "\n", encoding="utf-8")
    return head
