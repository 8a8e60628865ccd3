"""The board's home: big numbers, charts, and every feature's panels the user may see.

A board user who opens flask-avg's start page (``/avg/``) lands here; members
keep their own start page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from flask_avg.core import checklist
from flask_avg.core.dashboard import DashboardPanel
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.extension import get_state
from flask_avg.features.accountability import board
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
    return render_template(
        "avg/accountability/dashboard.html", panels=rendered, board=board.build(state)
    )


#: what makes a user "the board" for the landing page: handling requests or
#: seeing the members; a member who may only see a panel keeps their own start page
BOARD_ACTIONS = ("avg.requests.handle", "avg.members.view")


def land_on_dashboard() -> Any:
    """Before flask-avg's start page: send a board user to the dashboard."""
    if request.endpoint != "avg_core.index" or not current_user.is_authenticated:
        return None
    state = get_state()
    if any(state.can(action) for action in BOARD_ACTIONS) and visible_panels(state):
        return redirect(url_for("avg_accountability.dashboard"))
    return None


def register_routes(bp: Blueprint, state: AvgState) -> None:
    state.dashboard.extend(PANELS)
    bp.add_url_rule("/dashboard", endpoint="dashboard", view_func=dashboard, methods=["GET"])
    bp.before_app_request(land_on_dashboard)
