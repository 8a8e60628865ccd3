"""The breach register (Art. 33-34): counts of people affected, never the people themselves."""

from __future__ import annotations

from flask_avg.core.plugins import Plugin
from flask_avg.features.breaches import models as models


class BreachesPlugin(Plugin):
    name = "breaches"


plugin = BreachesPlugin()
