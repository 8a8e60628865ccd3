"""Accountability pages: the board's dashboard, the register (Art. 30), the inventory and annex."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_avg.core.plugins import Plugin

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class AccountabilityPlugin(Plugin):
    name = "accountability"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "accountability"

    def init_app(self, app: Any, state: AvgState) -> None:
        from flask_avg.features.accountability.register_job import register_kind

        register_kind(state)

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.accountability.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.accountability.views import register_commands

        register_commands(group)


plugin = AccountabilityPlugin()
