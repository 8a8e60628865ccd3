"""The retention and erasure engine: purge, erase one subject, ledger, replay.

``from flask_avg.features.retention.service import erase_subject, purge`` is the public entry;
:func:`purge_status` is what a dashboard shows about the purge (last run, next run,
warning), :func:`start_purge` the board's "purge now" in a background thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import current_app

from flask_avg.features.retention.engine import ModelCounts
from flask_avg.features.retention.erase import Check, ErasureResult, Outcome, erase_subject
from flask_avg.features.retention.lock import PurgeLocked
from flask_avg.features.retention.plan import erase_setting
from flask_avg.features.retention.purge import PurgeResult, purge
from flask_avg.features.retention.runs import PurgeStatus, RunView, get_run, open_run
from flask_avg.features.retention.runs import status as _status

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

__all__ = [
    "Check",
    "ErasureResult",
    "ModelCounts",
    "Outcome",
    "PurgeLocked",
    "PurgeResult",
    "PurgeStatus",
    "RunView",
    "confirm_settings",
    "due_condition",
    "erase_subject",
    "erased_condition",
    "get_run",
    "is_confirmed",
    "purge",
    "purge_status",
    "save_settings",
    "start_purge",
]

log = logging.getLogger(__name__)

#: setting holding when (ISO time) the board first confirmed the retention periods
CONFIRMED = "retention.confirmed_at"


def save_settings(
    state: AvgState, days: dict[str, int], erase: dict[str, str], *, actor: str | None
) -> None:
    """Store the board's retention periods (``{category: days}``) and erase choices
    (``{model name: "delete" | "anonymise"}``); audited, committed.

    The periods are the caller's to check against the categories' legal floors.
    """
    for key, value in days.items():
        state.settings.set(f"retention.{key}.days", value, actor=actor)
    for m in state.registry:
        if m.name in erase:
            state.settings.set(erase_setting(m), erase[m.name], actor=actor)
    state.audit.record("retention.settings", detail={"days": days, "erase": erase})
    if not is_confirmed(state):  # saving the periods is confirming them
        _mark_confirmed(state, days, actor)
    state.db.session.commit()


def erased_condition(state: AvgState) -> Any:
    """A condition on the subject table, true for erased rows: the erasure ledger names
    them (its latest entry for the key is not a reused key), or they already hold the
    values anonymising gives. For lists that leave erased people out and for counts."""
    from sqlalchemy import String, and_, cast, exists, false, select

    from flask_avg.features.retention.anonymise import binary_text
    from flask_avg.features.retention.ledger import LEDGER, REUSED
    from flask_avg.features.retention.plan import Plan

    subject = state.registry.subject
    key = cast(subject.primary_key[0], String(64))
    entry, later = LEDGER.alias("avg_entry"), LEDGER.alias("avg_later")
    newer = select(later.c.id).where(
        later.c.model == entry.c.model, later.c.key == entry.c.key, later.c.id > entry.c.id
    )
    named = exists(
        select(entry.c.id).where(
            entry.c.model == subject.name,
            # byte for byte: MariaDB refuses to compare the ledger's collation with
            # the connection's, which the key cast to text has
            binary_text(entry.c.key) == binary_text(key),
            entry.c.action != REUSED,
            ~exists(newer),
        )
    )
    plan = Plan(state, date.today())
    anonymised = ~plan.not_anonymised(subject) if plan.values(subject) else and_(false())
    return named | anonymised


def due_condition(state: AvgState, as_of: date | None = None) -> Any:
    """A condition on the subject table, true for the people the next purge (as of
    ``as_of``, default today) erases: their retention anchor plus the period lies in
    the past and they are not erased yet."""
    from flask_avg.features.retention.plan import Plan

    plan = Plan(state, as_of or date.today())
    return plan.expired(state.registry.subject) & ~erased_condition(state)


def is_confirmed(state: AvgState) -> bool:
    """Has the board confirmed the retention periods once (the first visit's question)?"""
    return bool(state.settings.get(CONFIRMED))


def confirm_settings(state: AvgState, days: dict[str, int], *, actor: str | None) -> None:
    """The board confirms the periods shown (the install defaults or its own): stored,
    audited (``retention.confirmed`` with the days), committed."""
    for key, value in days.items():
        state.settings.set(f"retention.{key}.days", value, actor=actor)
    _mark_confirmed(state, days, actor)
    state.db.session.commit()


def _mark_confirmed(state: AvgState, days: dict[str, int], actor: str | None) -> None:
    from flask_avg.core.types import utcnow

    state.settings.set(CONFIRMED, utcnow().isoformat(timespec="seconds"), actor=actor)
    state.audit.record("retention.confirmed", actor=actor, detail={"days": days})


def purge_status(state: AvgState) -> PurgeStatus:
    """For the dashboard: ``last`` (the last finished run: ``finished_at``, ``trigger``
    ``"scheduled"``/``"board"``/``"api"``, ``actor``, ``status``, ``deleted``,
    ``anonymised``, ``categories``), ``last_done``, ``running`` (with ``percent``),
    ``next_run`` (aware UTC, from ``AVG_PURGE_SCHEDULE``) and ``warning`` (no
    successful purge for two days, or never). Two small queries."""
    return _status(state)


def start_purge(
    state: AvgState, *, actor: str | None, as_of: date | None = None
) -> tuple[int, threading.Thread | None]:
    """The board's "purge now": queue a run row and purge in a background thread.

    Returns the run's id (its progress is in ``avg_purge_run``, see :func:`get_run`)
    and the thread (None when a run was already queued or running: its id is
    returned instead, so a second click never starts a second purge). The thread
    takes the purge lock without waiting: when cron's purge holds it, the run is
    closed as ``"skipped"``.
    """
    running = _status(state).running
    if running is not None:
        return running.id, None
    as_of = as_of or date.today()
    run_id = open_run(state, trigger="board", actor=actor, as_of=as_of, status="queued")
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]

    def work() -> None:
        with app.app_context():
            try:
                purge(state, as_of, actor=actor, wait=0.0, trigger="board", run_id=run_id)
            except PurgeLocked as exc:
                from flask_avg.features.retention.runs import fail_run

                fail_run(state, run_id, "skipped", exc)
            except Exception:  # the run row says "failed"; the log has the traceback
                log.exception("purge run %s failed", run_id)
            finally:
                state.db.session.remove()

    thread = threading.Thread(target=work, name=f"avg-purge-{run_id}", daemon=True)
    thread.start()
    return run_id, thread
