"""Data-subject requests (Art. 15-21) as a plugin: their pages live in self-service.

Lifecycle: a member's requests are exported with them; erasing the member, by
any route, closes their open requests, blanks their messages and drops their
restrictions and objections. The request records themselves (kind, dates,
outcome, no message) stay as proof of how the request was handled, as long as
the audit log keeps its entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.plugins import (
    EraseContext,
    Erased,
    ExportSection,
    Hold,
    Plugin,
    PurgeContext,
    SubjectContext,
    held_with_the_audit_log,
)
from flask_avg.features.requests import engine, limits
from flask_avg.features.requests.models import OPEN, DataRequest

PROOF = _l("Kept without messages as proof of how the request was handled (Art. 5(2))")


class RequestsPlugin(Plugin):
    name = "requests"
    labels = {
        "requests": _l("Privacy requests"),
        "processing_limits": _l("Restrictions and objections"),
    }

    not_restricted = staticmethod(limits.not_restricted)
    not_objected = staticmethod(limits.not_objected)

    def export(self, ctx: SubjectContext) -> Iterable[ExportSection]:
        rows = ctx.session.scalars(
            select(DataRequest).where(DataRequest.subject == ctx.key).order_by(DataRequest.id)
        ).all()
        if rows:
            yield ExportSection(
                "requests",
                _l("Privacy requests"),
                {
                    "kind": _l("Request"),
                    "status": _l("Status"),
                    "received_at": _l("Received"),
                    "message": _l("Message"),
                },
                [
                    {
                        "kind": str(r.kind_label),
                        "status": str(r.status_label),
                        "received_at": r.received_at,
                        "message": r.message,
                    }
                    for r in rows
                ],
                category="communication",
            )

    def check(self, ctx: SubjectContext) -> Iterable[Hold]:
        mine = DataRequest.subject == ctx.key
        return held_with_the_audit_log(ctx, "requests", DataRequest.updated_at, mine, PROOF)

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        return engine.erase(ctx)

    def purge(self, ctx: PurgeContext) -> int:
        """Closed requests go with the audit entries that speak of them."""
        cutoff = ctx.audit_cutoff
        if cutoff is None:
            return 0
        table: Any = DataRequest.__table__
        old = table.c.updated_at < cutoff
        gone = ctx.session.execute(delete(table).where(old, table.c.status.not_in(OPEN)))
        return int(getattr(gone, "rowcount", 0) or 0)


plugin = RequestsPlugin()
