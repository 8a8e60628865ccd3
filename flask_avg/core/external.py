"""External erasures: what plugins erase outside the database, after the commit.

The erasure writes one :class:`~flask_avg.core.models.ExternalErasure` row per
subject and external plugin *inside its own transaction* (an outbox): once the
database erasure commits, the work outside it cannot be forgotten. :func:`run`
then asks each plugin, removes the rows that succeeded and records failures
(attempts, the error, an audit entry) for the board to see and for the next
purge or ``flask avg plugins retry`` to try again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import String, delete, func, insert, literal, select, update

from flask_avg.core.models import ExternalErasure
from flask_avg.core.plugins import ExternalContext
from flask_avg.core.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

TABLE: Any = ExternalErasure.__table__


def queue(state: AvgState, session: Any, keys: Any, reason: str) -> int:
    """``INSERT ... SELECT``: one row per external plugin and subject key that ``keys``
    (a ``SELECT`` of the keys as text) gives, in the caller's transaction."""
    queued = 0
    for plugin in state.plugins.external:
        subjects = keys.subquery()
        source = select(
            literal(plugin.name, String),
            subjects.c[0],
            literal(reason[:16], String),
            literal(utcnow(), UTCDateTime),
            literal(0),
        ).select_from(subjects)
        columns = ["plugin", "subject", "reason", "created_at", "attempts"]
        queued += int(session.execute(insert(TABLE).from_select(columns, source)).rowcount or 0)
    return queued


def pending(state: AvgState) -> list[ExternalErasure]:
    """External erasures not yet done, oldest first."""
    stmt = select(ExternalErasure).order_by(ExternalErasure.id)
    return list(state.db.session.scalars(stmt))


def failed_count(state: AvgState) -> int:
    """How many external erasures failed at least once and are still owed."""
    stmt = select(func.count()).select_from(TABLE).where(TABLE.c.attempts > 0)
    return int(state.db.session.scalar(stmt) or 0)


def run(state: AvgState, *, chunk: int | None = None) -> tuple[int, int]:
    """Carry out every external erasure owed when called, per plugin and reason in
    chunks of ``chunk`` rows (default ``AVG_PURGE_BATCH_SIZE``: what one purge batch
    queued), each chunk committed; returns ``(done, failed)`` in subjects. A plugin
    no longer registered keeps its rows (they show as owed)."""
    from flask_avg.core.config import config_value

    chunk = chunk or int(config_value("PURGE_BATCH_SIZE"))
    session = state.db.session
    session.commit()
    last = session.scalar(select(func.max(TABLE.c.id)))
    after, done, failed = 0, 0, 0
    while last is not None and after < last:
        rows = session.execute(
            select(TABLE.c.id, TABLE.c.plugin, TABLE.c.subject, TABLE.c.reason)
            .where(TABLE.c.id > after, TABLE.c.id <= last)
            .order_by(TABLE.c.id)
            .limit(chunk)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for row_id, plugin, subject, reason in rows:
            groups.setdefault((plugin, reason), []).append((row_id, subject))
        for (name, reason), items in groups.items():
            if name in state.plugins:
                ok, n = _attempt(state, name, reason, items)
                done, failed = (done + n, failed) if ok else (done, failed + n)
    return done, failed


def _attempt(
    state: AvgState, name: str, reason: str, items: list[tuple[int, str]]
) -> tuple[bool, int]:
    """One plugin, one batch of keys: erase outside, then drop or mark the rows; commits."""
    session = state.db.session
    ids = [i for i, _ in items]
    keys = sorted({k for _, k in items})
    try:
        state.plugins[name].erase_external(ExternalContext(state, keys, reason))
    except Exception as exc:  # noqa: BLE001 - any failure is recorded, never lost
        session.rollback()
        error = f"{type(exc).__name__}: {exc}"[:1000]
        session.execute(
            update(TABLE)
            .where(TABLE.c.id.in_(ids))
            .values(attempts=TABLE.c.attempts + 1, last_error=error, last_attempt_at=utcnow())
        )
        state.audit.record(
            "plugin.external_failed",
            outcome="error",
            detail={"plugin": name, "subjects": len(keys), "error": error[:200]},
        )
        session.commit()
        return False, len(keys)
    session.execute(delete(TABLE).where(TABLE.c.id.in_(ids)))
    state.audit.record("plugin.external_erased", detail={"plugin": name, "subjects": len(keys)})
    session.commit()
    return True, len(keys)
