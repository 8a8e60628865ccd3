"""The breach register (Art. 33-34): counts of people affected, never the people themselves."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask_avg.core.plugins import Plugin
from flask_avg.features.breaches import models as models


class BreachesPlugin(Plugin):
    name = "breaches"
    templates = str(Path(__file__).parent / "templates")

    def notify_due(self, state: Any, now: datetime) -> int:
        """The board's mail about breach clocks past 48 hours (see :mod:`.notify`)."""
        from flask_avg.features.breaches.notify import notify_clocks

        return notify_clocks(state, now)


plugin = BreachesPlugin()
