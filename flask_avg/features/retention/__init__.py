"""Retention and erasure as a plugin: the engine every erasure goes through.

Erasing one member (a request, the board's button, the CLI, the host's code) and
the retention purge run the same set-based engine (:mod:`.engine`), which asks
every registered plugin to erase what it holds on the subjects in the same
transaction and queues their external erasures. This plugin provides that
engine to the kernel (``state.lifecycle``), the erasure ledger and its login
guard, the retention page and the ``purge`` and ``ledger`` commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_avg.core.plugins import Plugin

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class Lifecycle:
    """``state.lifecycle``: what the kernel's ``erase_subject`` and ``purge`` call."""

    def __init__(self, state: AvgState) -> None:
        self.state = state

    def erase_subject(self, subject_id: Any, **kwargs: Any) -> Any:
        from flask_avg.features.retention.erase import erase_subject

        return erase_subject(self.state, subject_id, **kwargs)

    def purge(self, as_of: date | None = None, **kwargs: Any) -> Any:
        from flask_avg.features.retention.purge import purge

        return purge(self.state, as_of, **kwargs)

    def is_erased(self, model_name: str, key: Any, *, fresh: bool = False) -> bool:
        from flask_avg.features.retention.ledger import is_erased

        return is_erased(self.state, model_name, key, fresh=fresh)


def _when(moment: Any) -> str:
    """A date and time in the page's language and time zone (Flask-Babel's)."""
    if moment is None:
        return "–"
    from flask_babel import format_datetime

    return str(format_datetime(moment, "medium"))


class RetentionPlugin(Plugin):
    name = "retention"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "retention"

    def init_app(self, app: Any, state: AvgState) -> None:
        from flask_avg.features.retention.ledger import install_login_guard, watch_reused_keys
        from flask_avg.features.retention.runs import schedule_times
        from flask_avg.features.retention.service import register_job

        schedule_times(app.config["AVG_PURGE_SCHEDULE"])  # a wrong schedule fails at start-up
        app.jinja_env.filters["avg_purge_time"] = _when
        state.lifecycle = Lifecycle(state)
        install_login_guard(app, state)
        watch_reused_keys(state.db)
        register_job(state)

    def checklist(self, state: AvgState) -> Iterable[Any]:
        """The security checklist's purge line, from the purge runs the retention page
        shows (one source of truth: a dry run or a preview is no purge)."""
        from flask_avg.features.retention.runs import checklist_line

        yield checklist_line(state)

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.retention.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.retention.views import register_commands

        register_commands(group)


plugin = RetentionPlugin()
