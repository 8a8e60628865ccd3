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
from datetime import date
from pathlib import Path
from typing import Any

from flask import g
from sqlalchemy import insert, select

from flask_avg.core.types import utcnow
from flask_avg.features.retention.models import LedgerEntry

LEDGER: Any = LedgerEntry.__table__


def record(session: Any, entries: Iterable[tuple[str, str, str]], reason: str) -> int:
    rows = [
        {"model": m, "key": k, "action": a, "reason": reason, "at": utcnow()} for m, k, a in entries
    ]
    if rows:
        session.execute(insert(LEDGER), rows)
    return len(rows)


def login_model_name(state: Any) -> str | None:
    user_model = state.ext.user_model
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
        stmt = select(LedgerEntry.id).where(LedgerEntry.model == model, LedgerEntry.key == str(key))
        found = session.scalar(stmt.limit(1)) is not None
        dialect = session.get_bind(clause=LEDGER).dialect.name
        if fresh and not found and dialect in ("mysql", "mariadb"):
            found = _erased_since(state, model, key)
        cache[ck] = found
    return bool(cache[ck])


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
    present = {(e.model, e.key) for e in session.scalars(select(LedgerEntry))}
    missing = [e for e in entries if (e["model"], e["key"]) not in present]
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
    keys = sorted({e["key"] for e in entries if e["model"] == subject.name})
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


def install_login_guard(app: Any, state: Any) -> None:
    """Log out, on their next request, a user whose login account was erased."""
    from flask_login import current_user, logout_user

    @app.before_request
    def _avg_erased_login_guard() -> None:
        name = login_model_name(state)
        if name is None or not getattr(current_user, "is_authenticated", False):
            return
        if is_erased(state, name, current_user.get_id()):
            logout_user()
