"""The retention and erasure engine: purge, erase one subject, ledger, replay.

``from flask_avg.features.retention.service import erase_subject, purge`` is the public entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "erase_subject",
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
