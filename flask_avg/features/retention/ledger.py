"""The erasure ledger: record, export, replay, and the login guard built on it.

The ledger lives in the same database as the data, so a restore from a backup
taken before an erasure also rolls the ledger back. The ledger is therefore
exported to a file (``flask avg export-ledger -o FILE``, which the purge job
can run after every purge, and which belongs *outside* the database backup),
and ``flask avg replay-erasures FILE`` re-applies it after a restore.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import g, has_app_context
from sqlalchemy import func, insert, select

from flask_avg.core.identity import user_key
from flask_avg.core.stamps import ERASURE, bump
from flask_avg.core.types import utcnow
from flask_avg.features.retention.models import LedgerEntry

LEDGER: Any = LedgerEntry.__table__


def record(session: Any, entries: Iterable[tuple[str, str, str]], reason: str) -> int:
    rows = [
        {"model": m, "key": k, "action": a, "reason": reason, "at": utcnow()} for m, k, a in entries
    ]
    if rows:
        session.execute(insert(LEDGER), rows)
        bump(session, ERASURE)  # every process's cached ledger answers are stale now
    return len(rows)


#: the ledger action that says "a new row took this key after the erasure"
REUSED = "reused"


def login_model_name(state: Any) -> str | None:
    user_model = state.user_model
    return getattr(user_model, "__name__", None) if user_model is not None else None


def is_erased(state: Any, model: str, key: Any, *, fresh: bool = False) -> bool:
    """Whether the ledger names ``model`` ``key``; cached for the request.

    ``fresh`` reads past the cache: :func:`flask_avg.core.subjects.lock_subject`
    asks so once it holds the subject's row lock. On MariaDB/MySQL a plain read
    shows the transaction's REPEATABLE READ view, which misses an erasure
    committed after the transaction's first read; see :func:`_erased_since`.
    """
    cache = g.setdefault("_avg_erased", {})
    ck = (model, str(key))
    if fresh or ck not in cache:
        session = state.db.session
        # the latest entry decides: a new row that took the key after the erasure
        # (an id reused on SQLite) is somebody else, and is not erased
        entries = _key_entries(state, model, str(key), fresh=fresh)
        found = bool(entries) and entries[-1][1] != REUSED
        dialect = session.get_bind(clause=LEDGER).dialect.name
        if fresh and not found and dialect in ("mysql", "mariadb"):
            found = _erased_since(state, model, key)
        cache[ck] = found
    return bool(cache[ck])


def _key_entries(state: Any, model: str, key: str, *, fresh: bool = False) -> list[tuple[int, str]]:
    """The ledger entries of one key, oldest first (almost always none): one statement
    per request, shared by the member lookup and the erased-login guard."""
    cache = g.setdefault("_avg_ledger_entries", {})
    if fresh or (model, key) not in cache:

        def read() -> list[tuple[int, str]]:
            rows = state.db.session.execute(
                select(LedgerEntry.id, LedgerEntry.action)
                .where(LedgerEntry.model == model, LedgerEntry.key == key)
                .order_by(LedgerEntry.id)
            ).all()
            return [(int(i), str(a)) for i, a in rows]

        # while nobody was erased, this process's answer from an earlier request holds
        cache[(model, key)] = read() if fresh else state.stamps.cached(ERASURE, (model, key), read)
    return cache[(model, key)]  # type: ignore[no-any-return]


def _erased_since(state: Any, model: str, key: Any) -> bool:
    """MariaDB/MySQL: was the subject erased after this transaction's view was taken?

    Its ledger rows are hidden from that view, but not its traces on the
    subject's row, which a locking read sees as they are now (the caller holds
    that row's lock, so nothing else waits): the row is gone though the view
    still has it (deleted), or anonymised. A share-locking read of the ledger
    would see the rows themselves, but its gap lock on the ledger's index blocks
    every other erasure's ledger rows and deadlocks with them; a second
    connection could exhaust the pool under load.
    """
    from flask_avg.features.retention.plan import Plan

    subject = state.registry.subject
    if model != subject.name:
        return False
    pk = subject.primary_key[0]
    try:
        typed = pk.type.python_type(key)
    except (NotImplementedError, TypeError, ValueError):
        return False
    session = state.db.session
    mine = pk == typed
    if session.execute(select(pk).where(mine).with_for_update()).first() is None:
        return session.execute(select(pk).where(mine)).first() is not None
    plan = Plan(state, date.today())
    if not plan.values(subject):
        return False  # nothing to anonymise: an anonymised row looks like any other
    anonymised = ~plan.not_anonymised(subject)
    return session.execute(select(pk).where(mine, anonymised).with_for_update()).first() is not None


def export(state: Any, path: str | Path) -> int:
    """Write every ledger entry as JSON lines; returns how many."""
    session = state.db.session
    n = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for entry in session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)):
            fh.write(
                json.dumps(
                    {
                        "model": entry.model,
                        "key": entry.key,
                        "action": entry.action,
                        "reason": entry.reason,
                        "at": entry.at.isoformat(),
                    }
                )
                + "\n"
            )
            n += 1
    return n


def read(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def replay(
    state: Any, path: str | Path, *, actor: str | None = None, wait: float = 600.0
) -> dict[str, int]:
    """Erase again every subject the exported ledger names; restore missing ledger rows.

    Takes the purge lock (waiting up to ``wait`` seconds, then raising
    :class:`~flask_avg.features.retention.lock.PurgeLocked`), so a purge started by cron
    meanwhile never works on the same members.
    """
    from flask_avg.features.retention.lock import Lock

    entries = read(path)
    state.db.session.commit()
    with Lock(state, wait=wait):
        return _replay(state, entries, actor)


def _replay(state: Any, entries: list[dict[str, Any]], actor: str | None) -> dict[str, int]:
    from flask_avg.features.retention.engine import by_keys, erase_subjects
    from flask_avg.features.retention.plan import Plan

    session = state.db.session
    subject = state.registry.subject
    pk = subject.primary_key[0]
    present = {(e.model, e.key, e.action) for e in session.scalars(select(LedgerEntry))}
    missing = [e for e in entries if (e["model"], e["key"], e["action"]) not in present]
    if missing:
        session.execute(
            insert(LEDGER),
            [
                {
                    "model": e["model"],
                    "key": e["key"],
                    "action": e["action"],
                    "reason": e.get("reason", "replay")[:16],
                    "at": utcnow(),
                }
                for e in missing
            ],
        )
        bump(session, ERASURE)
    keys = sorted(_to_erase_again(entries, missing, subject.name))
    typed = [pk.type.python_type(k) for k in keys]
    plan = Plan(state, date.today())
    totals = {"subjects": 0, "deleted": 0, "anonymised": 0, "restored_entries": len(missing)}
    for start in range(0, len(typed), 1000):
        chunk = typed[start : start + 1000]
        if session.scalar(select(pk).where(pk.in_(chunk)).limit(1)) is None:
            continue
        result = erase_subjects(
            session, plan, by_keys(plan, chunk), reason="replay", count_held=False
        )
        done = result.counts.get(subject.name)
        totals["subjects"] += (done.anonymised + done.deleted) if done else 0
        for counts in result.counts.values():
            totals["deleted"] += counts.deleted
            totals["anonymised"] += counts.anonymised
    state.audit.record("erasure.replayed", actor=actor, detail=totals)
    session.commit()
    return totals


def _to_erase_again(
    entries: list[dict[str, Any]], missing: list[dict[str, Any]], model: str
) -> set[str]:
    """Keys of ``model`` to erase after a restore: every erased key, except one a new
    row took after its erasure while that new row is in the restored database
    (its ``reused`` entry was there already): that row is somebody else."""
    latest: dict[str, str] = {}
    for entry in entries:
        if entry["model"] == model:
            latest[entry["key"]] = entry["action"]
    missing_reuse = {e["key"] for e in missing if e["model"] == model and e["action"] == REUSED}
    return {k for k, action in latest.items() if action != REUSED or k in missing_reuse}


def note_reused_keys(state: Any, session: Any, _context: Any) -> None:
    """``after_flush``: a new subject or login row whose key the ledger names (SQLite
    hands out a deleted highest id again) gets a ``reused`` entry, so that it is
    not taken for the erased person; their sessions stay rejected (see the guard)."""
    watched = {m for m in (state.registry.subject.cls, state.user_model) if m is not None}
    new: dict[str, set[str]] = {}
    for obj in session.new:
        if type(obj) in watched:
            key = user_key(obj)
            if key is not None:
                new.setdefault(type(obj).__name__, set()).add(key)
    if new and not _ledger_exists(session):
        return  # flask-avg's tables are not made yet (before init-db): nothing was erased
    for name, keys in new.items():
        found = session.execute(
            select(LedgerEntry.key, LedgerEntry.action)
            .where(LedgerEntry.model == name, LedgerEntry.key.in_(sorted(keys)))
            .order_by(LedgerEntry.id)
        ).all()
        latest = {k: a for k, a in found}
        reused = [k for k, action in latest.items() if action != REUSED]
        if reused:
            session.execute(
                insert(LEDGER),
                [
                    {"model": name, "key": k, "action": REUSED, "reason": "new row", "at": utcnow()}
                    for k in reused
                ],
            )
            bump(session, ERASURE)
    if new and has_app_context():
        g.pop("_avg_erased", None)
        g.pop("_avg_ledger_entries", None)


def _ledger_exists(session: Any) -> bool:
    """Asked only for flushes that add people, so not worth caching (and a cache
    would outlive a schema dropped and made again)."""
    from sqlalchemy import inspect

    return bool(inspect(session.connection()).has_table(LedgerEntry.__tablename__))


def watch_reused_keys(db: Any) -> None:
    """Call :func:`note_reused_keys` after every flush of ``db``'s sessions (once per
    ``db``, for whichever app is current: one ``db`` may serve several apps)."""
    from flask import current_app
    from sqlalchemy import event

    if getattr(db, "_avg_watches_reused_keys", False):
        return

    def after_flush(session: Any, context: Any) -> None:
        state = current_app.extensions.get("avg") if has_app_context() else None
        if state is not None and state.db is db:
            note_reused_keys(state, session, context)

    event.listen(db.session.session_factory, "after_flush", after_flush)
    db._avg_watches_reused_keys = True


#: session key and cookie holding the ledger's highest entry id when the login began
SINCE = "_avg_since"
SINCE_COOKIE = "avg_since"


def _watermark(state: Any) -> int:
    return int(state.db.session.scalar(select(func.max(LedgerEntry.id))) or 0)


def _last_erasure(state: Any, model: str, key: str) -> int | None:
    """The id of the latest ledger entry that erased ``key`` (not a reuse), or None.

    Reads the key's entries (almost always none) in one statement and leaves the
    answer to :func:`is_erased` in the request's cache: where the login is the
    subject, the member lookup that follows needs no statement of its own.
    """
    entries = _key_entries(state, model, key)
    erased = [int(entry_id) for entry_id, action in entries if action != REUSED]
    return erased[-1] if erased else None


def _signer(app: Any) -> Any:
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(app.secret_key, salt="flask-avg-login-since")


def install_login_guard(app: Any, state: Any) -> None:
    """End every session and remember-me cookie of an erased login account, under any
    login system built on Flask-Login (Flask-Security included).

    Each login is marked with the ledger's highest entry id when it began (in the
    session, and in a signed cookie beside Flask-Login's remember cookie). A user
    whose account the ledger erased *after* that mark is logged out. A new account
    that took the erased id (SQLite) logs in after the erasure, so its own sessions
    pass, while the erased person's old session or cookie for that id does not.
    """
    from flask import request, session
    from flask_login import current_user, logout_user, user_logged_in

    @user_logged_in.connect_via(app)
    def _mark_login(_app: Any, user: Any = None, **_extra: Any) -> None:
        session[SINCE] = _watermark(state)

    @app.after_request
    def _keep_mark(response: Any) -> Any:
        # runs before Flask-Login's own after_request, which reads and drops "_remember"
        remember = session.get("_remember")
        if remember == "set" and SINCE in session:
            key = user_key(current_user) if current_user else None
            duration = app.config.get("REMEMBER_COOKIE_DURATION", timedelta(days=365))
            response.set_cookie(
                SINCE_COOKIE,
                _signer(app).dumps([key, session[SINCE]]),
                max_age=int(getattr(duration, "total_seconds", lambda: duration)()),
                httponly=True,
                secure=bool(app.config.get("REMEMBER_COOKIE_SECURE", False)),
                samesite=app.config.get("REMEMBER_COOKIE_SAMESITE") or "Lax",
                path=app.config.get("REMEMBER_COOKIE_PATH", "/"),
            )
        elif remember == "clear":
            response.delete_cookie(SINCE_COOKIE, path=app.config.get("REMEMBER_COOKIE_PATH", "/"))
        return response

    def _since_from_cookie(key: str) -> int | None:
        from itsdangerous import BadSignature

        raw = request.cookies.get(SINCE_COOKIE)
        if not raw:
            return None
        try:
            owner, since = _signer(app).loads(raw)
        except (BadSignature, ValueError, TypeError):
            return None
        return int(since) if owner == key and isinstance(since, int) else None

    @app.before_request
    def _avg_erased_login_guard() -> None:
        name = login_model_name(state)
        if name is None or not getattr(current_user, "is_authenticated", False):
            return
        key = user_key(current_user)
        last = _last_erasure(state, name, key) if key is not None else None
        if last is None:
            return
        since = session.get(SINCE)
        if since is None:  # restored from a remember-me cookie
            since = _since_from_cookie(key or "")
            if since is not None:
                session[SINCE] = since
        if since is None or int(since) < last:
            logout_user()
