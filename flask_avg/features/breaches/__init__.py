"""The breach register (Art. 33-34): counts of people affected, never the people themselves."""

from __future__ import annotations

from pathlib import Path

from flask_avg.core.plugins import Plugin
from flask_avg.features.breaches import models as models


class BreachesPlugin(Plugin):
    name = "breaches"
    templates = str(Path(__file__).parent / "templates")


plugin = BreachesPlugin()
