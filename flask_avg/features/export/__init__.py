"""One-click export (Art. 15 and 20): a member's data as Excel, JSON or CSV; the board's lists."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_avg.core.plugins import Plugin

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class ExportPlugin(Plugin):
    name = "export"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "export"

    def init_app(self, app: Any, state: AvgState) -> None:
        from flask_avg.features.export.jobs import register

        register(state)

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.export.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.export.views import register_commands

        register_commands(group)


plugin = ExportPlugin()
