"""Minors and guardians (Art. 8 GDPR, UAVG art. 5) as a plugin.

It adds a switcher to ``state.subject_switchers`` (a guardian acting for a child
sees the self-service pages of the child), a guard to ``state.consent_guards``
(below the age of consent only a guardian answers), the board's invitation and
unlink pages, and ``flask avg guardians`` for the daily birthdays. Erasing a
member, by any route, removes their guardian links, as child and as guardian,
and with them any open invitation link.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.identity import actor_labels
from flask_avg.core.plugins import EraseContext, Erased, ExportSection, Plugin, SubjectContext
from flask_avg.core.subjects import ConsentRefused
from flask_avg.features.guardians import service
from flask_avg.features.guardians.models import GuardianLink

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

STATUS_LABELS: dict[str, Any] = {
    "invited": _l("Invited"),
    "active": _l("Guardian"),
    "ended": _l("Ended"),
}


class GuardiansPlugin(Plugin):
    name = "guardians"
    title = _l("Guardians")
    templates = str(Path(__file__).parent / "templates")
    blueprint = "guardians"
    labels = {"guardian_links": _l("Guardian links")}

    def __init__(self) -> None:
        #: the host's own parent links: ``loader(user) -> keys of the user's children``
        self.loaders: list[Any] = []

    def guardian_loader(self, func: Any) -> Any:
        """Decorator: ``func(user)`` returns the subjects (rows or keys) ``user`` is the
        guardian of by the host's own parent link, besides the links flask-avg keeps.
        The host owns those links: the board's page lists them but cannot unlink them."""
        self.loaders.append(func)
        return func

    def init_app(self, app: Any, state: AvgState) -> None:
        state.subject_switchers.append(lambda user, own: service.switch(state, user, own))
        state.consent_guards.append(service.consent_guard)
        app.register_error_handler(ConsentRefused, _consent_refused)

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.guardians.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.guardians.cli import register

        register(group)

    def export(self, ctx: SubjectContext) -> Iterable[ExportSection]:
        mine = or_(GuardianLink.subject == ctx.key, GuardianLink.guardian.in_(ctx.logins))
        rows = ctx.session.scalars(select(GuardianLink).where(mine).order_by(GuardianLink.id)).all()
        if not rows:
            return
        names = actor_labels(ctx.state, [r.guardian for r in rows])
        yield ExportSection(
            "guardian_links",
            _l("Guardians"),
            {
                "role": _l("Role"),
                "guardian": _l("Guardian"),
                "status": _l("Status"),
                "since": _l("Since"),
                "ended": _l("Ended"),
            },
            [
                {
                    "role": str(_l("Guardian of")) + f" #{r.subject}"
                    if r.subject != ctx.key
                    else str(_l("Child")),
                    "guardian": names.get(r.guardian, ""),
                    "status": str(STATUS_LABELS.get(r.status, r.status)),
                    "since": r.accepted_at or r.created_at,
                    "ended": r.ended_at,
                }
                for r in rows
            ],
            category="identity",
        )

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        return service.erase_links(ctx.state, ctx.session, ctx.key_in, ctx.login_in)


def _consent_refused(exc: ConsentRefused) -> Any:
    """A refused consent answer on a page: say why, in words a child understands, and go
    back to the consent page (nothing was stored)."""
    from flask import current_app, flash, request

    from flask_avg.core.redirects import safe_redirect

    current_app.extensions["avg"].db.session.rollback()
    flash(str(exc), "error")
    target = request.form.get("next") if request.method == "POST" else None
    fallback = "avg_core.index"
    if "avg_accountability.consent_page" in current_app.view_functions:
        fallback = "avg_accountability.consent_page"
    return safe_redirect(target, fallback)


plugin = GuardiansPlugin()
