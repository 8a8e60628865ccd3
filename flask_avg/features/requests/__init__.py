"""Data-subject requests (Art. 15-21) as a plugin: their pages live in self-service.

Lifecycle: a member's requests are exported with them; erasing the member, by
any route, closes their open requests, blanks their messages and drops their
restrictions and objections. The request records themselves (kind, dates,
outcome, no message) stay as proof of how the request was handled, as long as
the audit log keeps its entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from flask_avg.core import mail as kernel_mail
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
from flask_avg.core.signals import purge_completed
from flask_avg.features.requests import engine, limits, notify
from flask_avg.features.requests.models import OPEN, DataRequest

PROOF = _l("Kept without messages as proof of how the request was handled (Art. 5(2))")


class RequestsPlugin(Plugin):
    name = "requests"
    labels = {
        "requests": _l("Privacy requests"),
        "processing_limits": _l("Restrictions and objections"),
    }

    #: the mail templates (``avg/mail/request_*``)
    templates = str(Path(__file__).parent / "templates")

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

    def notify_due(self, state: Any, now: datetime) -> int:
        """The board's mail about requests past their deadline, once each."""
        return notify.notify_overdue(state, now)

    def register_commands(self, group: Any) -> None:
        import click
        from flask.cli import with_appcontext

        @group.command("notify-overdue")
        @with_appcontext
        def notify_overdue_command() -> None:
            """Mail the board about overdue requests and breach clocks past 48 hours
            (each once); run it from cron, hourly or daily."""
            from flask import current_app

            sent = kernel_mail.run_due(current_app.extensions["avg"])
            click.echo(f"{sent} notification(s) sent")

    def purge(self, ctx: PurgeContext) -> int:
        """Closed requests go with the audit entries that speak of them."""
        cutoff = ctx.audit_cutoff
        if cutoff is None:
            return 0
        table: Any = DataRequest.__table__
        old = table.c.updated_at < cutoff
        if not ctx.dry_run:
            sent: Any = kernel_mail.Notice.__table__
            ctx.session.execute(delete(sent).where(sent.c.sent_at < cutoff))
        gone = ctx.session.execute(delete(table).where(old, table.c.status.not_in(OPEN)))
        return int(getattr(gone, "rowcount", 0) or 0)


@purge_completed.connect
def _after_purge(sender: Any, result: Any = None, dry_run: bool = False, **_: Any) -> None:
    """The daily purge is also the daily check: tell the board what became overdue.
    (Connected once, not per app: the app is the sender, and no app is held here.)"""
    state = sender.extensions.get("avg")
    if dry_run or state is None or "requests" not in state.plugins:
        return
    try:
        kernel_mail.run_due(state)
    except Exception:  # noqa: BLE001 - the purge itself succeeded
        state.db.session.rollback()
        sender.logger.exception("flask-avg: overdue notifications failed")


plugin = RequestsPlugin()
