"""The board's member pages (``admin`` in ``AVG_BLUEPRINTS``): the list and one member's data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_avg.core.plugins import Plugin

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class MembersPlugin(Plugin):
    name = "members"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "admin"

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.members.views import create_blueprint

        return create_blueprint(state)


plugin = MembersPlugin()
