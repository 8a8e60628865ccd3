"""The retention and erasure engine: purge, erase one subject, ledger, replay.

``from flask_avg.features.retention.service import erase_subject, purge`` is the public entry.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from flask_avg.features.retention.engine import ModelCounts
from flask_avg.features.retention.erase import Check, ErasureResult, Outcome, erase_subject
from flask_avg.features.retention.lock import PurgeLocked
from flask_avg.features.retention.plan import erase_setting
from flask_avg.features.retention.purge import PurgeResult, purge

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

__all__ = [
    "Check",
    "ErasureResult",
    "ModelCounts",
    "Outcome",
    "PurgeLocked",
    "PurgeResult",
    "due_condition",
    "erase_subject",
    "erased_condition",
    "purge",
    "save_settings",
]


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
