"""Background jobs' pages and commands, as a plugin: a job's progress, its result
download, retrying a failed job, and the lifecycle of result files.

The jobs themselves live in the kernel (:mod:`flask_avg.core.jobs`); any feature
registers its kinds there. This plugin shows them to the person who started
them, removes results when they expire (the purge asks every plugin) and when a
person they are about is erased: a result about one member goes with that
member, a list of every member with any erasure, and jobs started by an erased
account go with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jobs import Job
from flask_avg.core.plugins import EraseContext, Erased, Plugin, PurgeContext

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class JobsPlugin(Plugin):
    name = "jobs"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "jobs"
    labels = {"avg_job": _l("Background jobs and their result files")}

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.jobs.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.jobs.cli import register_commands

        register_commands(group)

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        jobs = ctx.state.jobs
        everyone = [k.name for k in jobs.kinds.values() if k.all_subjects]
        found = list(
            ctx.session.scalars(
                select(Job).where(
                    or_(ctx.key_in(Job.subject), Job.owner.in_(ctx.logins), Job.kind.in_(everyone))
                )
            )
        )
        if found:
            jobs.forget(found)
            yield Erased("avg_job", removed=len(found))

    def purge(self, ctx: PurgeContext) -> int:
        if ctx.dry_run:
            return 0
        jobs = ctx.state.jobs
        return jobs.expire(ctx.now) + jobs.reap()


plugin = JobsPlugin()
