"""Consent per purpose (Art. 7) as a plugin; its pages are part of the accountability pages.

Lifecycle: a member's answers are exported with them; erasing the member, by any
route, removes their current answers and the IP addresses kept with the history.
The history itself (when, which text, how) stays as proof that consent was given,
as long as the audit log keeps its entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select

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
from flask_avg.features.consent import service
from flask_avg.features.consent.models import ConsentRecord, ConsentState

PROOF = _l("Kept without the IP address as proof that consent was given (Art. 7(1))")


class ConsentPlugin(Plugin):
    name = "consent"
    templates = str(Path(__file__).parent / "templates")
    labels = {"consent": _l("Consent"), "consent_records": _l("Consent records")}

    has_consent = staticmethod(service.has_consent)
    consent_filter = staticmethod(service.consent_filter)
    record = staticmethod(service.record)

    def export(self, ctx: SubjectContext) -> Iterable[ExportSection]:
        rows = ctx.session.scalars(
            select(ConsentRecord).where(ConsentRecord.subject == ctx.key).order_by(ConsentRecord.id)
        ).all()
        if rows:
            yield ExportSection(
                "consent",
                _l("Consent given and withdrawn"),
                {
                    "purpose": _l("Purpose"),
                    "given": _l("Given"),
                    "at": _l("When"),
                    "version": _l("Text version"),
                    "method": _l("How"),
                },
                [
                    {
                        "purpose": r.purpose,
                        "given": r.given,
                        "at": r.at,
                        "version": r.version,
                        "method": str(service.METHODS.get(r.method, r.method)),
                    }
                    for r in rows
                ],
                category="communication",
            )

    def check(self, ctx: SubjectContext) -> Iterable[Hold]:
        mine = ConsentRecord.subject == ctx.key
        return held_with_the_audit_log(ctx, "consent_records", ConsentRecord.at, mine, PROOF)

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        return service.erase_keys(ctx.session, ctx.key_in)

    def purge(self, ctx: PurgeContext) -> int:
        """The history of people who no longer have a current answer (erased) goes
        once it is older than the audit log keeps its entries."""
        cutoff = ctx.audit_cutoff
        if cutoff is None:
            return 0
        records: Any = ConsentRecord.__table__
        states: Any = ConsentState.__table__
        current = exists().where(states.c.subject == records.c.subject)
        old = records.c.at < cutoff
        gone = ctx.session.execute(delete(records).where(old, ~current))
        return int(getattr(gone, "rowcount", 0) or 0)


plugin = ConsentPlugin()
