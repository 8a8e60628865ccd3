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

from sqlalchemy import delete, func, insert, select, update

from flask_avg.core.models import ExternalErasure
from flask_avg.core.plugins import ExternalContext
from flask_avg.core.types import utcnow

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

TABLE: Any = ExternalErasure.__table__


def queue(state: AvgState, session: Any, keys: list[str], reason: str) -> int:
    """One row per external plugin and subject key, in the caller's transaction."""
    rows = [
        {"plugin": p.name, "subject": key, "reason": reason[:16], "created_at": utcnow()}
        for p in state.plugins.external
        for key in keys
    ]
    if rows:
        session.execute(insert(TABLE), rows)
    return len(rows)


def pending(state: AvgState) -> list[ExternalErasure]:
    """External erasures not yet done, oldest first."""
    stmt = select(ExternalErasure).order_by(ExternalErasure.id)
    return list(state.db.session.scalars(stmt))


def failed_count(state: AvgState) -> int:
    """How many external erasures failed at least once and are still owed."""
    stmt = select(func.count()).select_from(TABLE).where(TABLE.c.attempts > 0)
    return int(state.db.session.scalar(stmt) or 0)


def run(state: AvgState, *, limit: int = 1000) -> tuple[int, int]:
    """Carry out owed external erasures, per plugin and reason in batches; commits.

    Returns ``(done, failed)`` counted in subjects. A plugin no longer
    registered keeps its rows (they show as owed) rather than losing them.
    """
    session = state.db.session
    session.commit()
    done = failed = 0
    rows = session.execute(
        select(TABLE.c.id, TABLE.c.plugin, TABLE.c.subject, TABLE.c.reason)
        .order_by(TABLE.c.id)
        .limit(limit)
    ).all()
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for row_id, plugin, subject, reason in rows:
        groups.setdefault((plugin, reason), []).append((row_id, subject))
    for (name, reason), items in groups.items():
        if name not in state.plugins:
            continue
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
            failed += len(keys)
        else:
            session.execute(delete(TABLE).where(TABLE.c.id.in_(ids)))
            state.audit.record(
                "plugin.external_erased", detail={"plugin": name, "subjects": len(keys)}
            )
            done += len(keys)
        session.commit()
    return done, failed
