"""The audit log screen, and the audit log's place in the subject lifecycle.

The log itself is kernel (:mod:`flask_avg.core.audit`): every feature writes to
it. This plugin says what an erasure leaves there (entries naming the member's
key, with names and counts only, kept as accountability records, Art. 5(2)) and
drops entries past ``AVG_AUDIT_RETENTION_DAYS``, counted from the real time: a
purge run ``--as-of`` a future date never takes the log with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.models import AuditEntry
from flask_avg.core.plugins import (
    Hold,
    Plugin,
    PurgeContext,
    SubjectContext,
    held_with_the_audit_log,
)
from flask_avg.features.audit import chain

ACCOUNTABILITY = _l(
    "Kept as the record of who did what (names and counts, no personal values), "
    "Art. 5(2); dropped after the audit log's retention"
)


class AuditPlugin(Plugin):
    name = "audit"
    templates = str(Path(__file__).parent / "templates")
    labels = {"audit_log": _l("Audit log")}

    def check(self, ctx: SubjectContext) -> Iterable[Hold]:
        mine = AuditEntry.subject == ctx.key
        return held_with_the_audit_log(ctx, "audit_log", AuditEntry.at, mine, ACCOUNTABILITY)

    def purge(self, ctx: PurgeContext) -> int:
        """Drop entries older than ``AVG_AUDIT_RETENTION_DAYS`` before now (core SQL:
        the ORM guard refuses single deletions), leaving a checkpoint entry so the
        rest of the hash chain still verifies (:mod:`.chain`)."""
        cutoff = ctx.audit_cutoff
        if cutoff is None:
            return 0
        return chain.purge(ctx.session, cutoff)

    def register_commands(self, group: Any) -> None:
        chain.register_commands(group)


plugin = AuditPlugin()
