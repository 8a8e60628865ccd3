"""The audit log screen, and the audit log's place in the subject lifecycle.

The log itself is kernel (:mod:`flask_avg.core.audit`): every feature writes to
it. This plugin says what an erasure leaves there (entries naming the member's
key, with names and counts only, kept as accountability records, Art. 5(2)) and
drops entries past ``AVG_AUDIT_RETENTION_DAYS``, counted from the real time: a
purge run ``--as-of`` a future date never takes the log with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from flask_avg.core.config import config_value
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.models import AuditEntry
from flask_avg.core.plugins import Hold, Plugin, PurgeContext, SubjectContext

ACCOUNTABILITY = _l(
    "Kept as the record of who did what (names and counts, no personal values), "
    "Art. 5(2); dropped after the audit log's retention"
)


class AuditPlugin(Plugin):
    name = "audit"
    templates = str(Path(__file__).parent / "templates")
    labels = {"audit_log": _l("Audit log")}

    def check(self, ctx: SubjectContext) -> Iterable[Hold]:
        count, latest = ctx.session.execute(
            select(func.count(), func.max(AuditEntry.at)).where(AuditEntry.subject == ctx.key)
        ).one()
        if count:
            days = int(config_value("AUDIT_RETENTION_DAYS"))
            until = (latest + timedelta(days=days)).date() if days > 0 else None
            yield Hold("audit_log", int(count), ACCOUNTABILITY, until)

    def purge(self, ctx: PurgeContext) -> int:
        """Drop entries older than ``AVG_AUDIT_RETENTION_DAYS`` before now (core SQL:
        the ORM guard refuses single deletions)."""
        days = int(config_value("AUDIT_RETENTION_DAYS"))
        if days <= 0:
            return 0
        table: Any = AuditEntry.__table__
        gone = ctx.session.execute(delete(table).where(table.c.at < ctx.now - timedelta(days=days)))
        return int(getattr(gone, "rowcount", 0) or 0)


plugin = AuditPlugin()
