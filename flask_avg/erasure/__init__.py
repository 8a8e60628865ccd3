"""The retention and erasure engine: purge, erase one subject, ledger, replay.

``from flask_avg.erasure import erase_subject, purge`` is the public entry.
"""

from __future__ import annotations

from .engine import ModelCounts
from .erase import Check, ErasureResult, Outcome, erase_subject
from .lock import PurgeLocked
from .purge import PurgeResult, purge

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
