"""The retention and erasure engine: purge, erase one subject, ledger, replay.

``from flask_avg.features.retention.service import erase_subject, purge`` is the public entry.
"""

from __future__ import annotations

from flask_avg.features.retention.engine import ModelCounts
from flask_avg.features.retention.erase import Check, ErasureResult, Outcome, erase_subject
from flask_avg.features.retention.lock import PurgeLocked
from flask_avg.features.retention.purge import PurgeResult, purge

__all__ = [
    "Check",
    "ErasureResult",
    "ModelCounts",
    "Outcome",
    "PurgeLocked",
    "PurgeResult",
    "erase_subject",
    "purge",
]
