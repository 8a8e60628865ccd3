"""The board's privacy dashboard: every feature's panels the user may see, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template
from markupsafe import Markup

from flask_avg.core import checklist
from flask_avg.core.dashboard import DashboardPanel
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.extension import get_state
from flask_avg.features.breaches import service as breaches
from flask_avg.features.consent import service as consent

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def _breach_context(state: AvgState) -> dict[str, Any]:
    return {"running": breaches.running(state.db.session)}


def _security_context(state: AvgState) -> dict[str, Any]:
    from flask import current_app

    return {"lines": checklist.run(current_app, state)}


def _consent_context(state: AvgState) -> dict[str, Any]:
    counts = consent.counts(state)
    return {"counts": counts, "outdated": sum(c.outdated for c in counts)}


PANELS = (
    DashboardPanel(
        "breaches",
        _l("Breaches within their 72 hours"),
        "avg/accountability/panel_breaches.html",
        _breach_context,
        "avg.breaches.manage",
        order=20,
    ),
    DashboardPanel(
        "consent",
        _l("Consent on an older text"),
        "avg/accountability/panel_consent.html",
        _consent_context,
        "avg.consent.manage",
        order=40,
    ),
    DashboardPanel(
        "security",
        _l("Security check"),
        "avg/accountability/panel_security.html",
        _security_context,
        "avg.register.manage",
        order=90,
    ),
)


def visible_panels(state: AvgState) -> list[DashboardPanel]:
    return sorted(
        (p for p in state.dashboard if state.can(p.action)), key=lambda p: (p.order, p.key)
    )


def dashboard() -> Any:
    # Open to anyone who may see at least one panel; each panel checks its own action.
    state = get_state()
    panels = visible_panels(state)
    if not panels:
        return state.deny("avg.audit.view")
    rendered = [
        # A panel is a template rendered with autoescape on; its output is markup.
        (panel, Markup(render_template(panel.template, **panel.context(state))))  # noqa: S704
        for panel in panels
    ]
    return render_template("avg/accountability/dashboard.html", panels=rendered)


def register_routes(bp: Blueprint, state: AvgState) -> None:
    state.dashboard.extend(PANELS)
    bp.add_url_rule("/dashboard", endpoint="dashboard", view_func=dashboard, methods=["GET"])
