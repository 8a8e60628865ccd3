"""Member self-service: see and correct your own data, file requests; the board's request queue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_avg.core.plugins import Plugin

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class SelfServicePlugin(Plugin):
    name = "self_service"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "self_service"

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.self_service.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.self_service.views import register_commands

        register_commands(group)


plugin = SelfServicePlugin()
