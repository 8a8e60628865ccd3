"""Requests from people without an account, as a plugin (``public_requests`` in
``AVG_BLUEPRINTS``: a host opts in to a page anyone can use).

Lifecycle: erasing a subject, by any route, removes the public requests matched to
them, with their export files and download links; the purge removes unconfirmed
requests past their link's validity and expired export files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.plugins import EraseContext, Erased, Plugin, PurgeContext
from flask_avg.features.public_requests import service

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class PublicRequestsPlugin(Plugin):
    name = "public_requests"
    title = _l("Requests without an account")
    templates = str(Path(__file__).parent / "templates")
    blueprint = "public_requests"
    labels = {"public_requests": _l("Requests without an account")}

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.public_requests.views import create_blueprint

        return create_blueprint(state)

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        return service.erase(ctx.state, ctx.session, ctx.keys)

    def purge(self, ctx: PurgeContext) -> int:
        if ctx.dry_run:
            return 0
        return service.purge(ctx.state, ctx.session, ctx.now, ctx.audit_cutoff)


plugin = PublicRequestsPlugin()
