"""The accountability blueprint: consent, the register, the inventory, breaches, the dashboard
and the audit log screen. Each concept's routes live in a module of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jinja import NavItem
from flask_avg.core.web import make_blueprint

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def create_blueprint(state: AvgState) -> Blueprint:
    from flask_avg.features.accountability import dashboard_views as dashboard
    from flask_avg.features.accountability import inventory_views as inventory
    from flask_avg.features.accountability import register_views as register
    from flask_avg.features.audit import views as audit_log
    from flask_avg.features.breaches import views as breaches
    from flask_avg.features.consent import views as consent

    bp = make_blueprint("accountability", __name__)
    consent.register_routes(bp, state)
    register.register_routes(bp, state)
    inventory.register_routes(bp, state)
    breaches.register_routes(bp, state)
    dashboard.register_routes(bp, state)
    audit_log.register_routes(bp, state)
    state.nav.append(NavItem("avg_accountability.dashboard", _l("Dashboard"), "avg.audit.view"))
    state.nav.append(
        NavItem(
            "avg_accountability.consent_purposes",
            _l("Consent"),
            "avg.consent.manage",
            "accountability",
        )
    )
    state.nav.append(
        NavItem(
            "avg_accountability.breaches_list",
            _l("Breaches"),
            "avg.breaches.manage",
            "accountability",
        )
    )
    state.nav.append(
        NavItem(
            "avg_accountability.register_page",
            _l("Register"),
            "avg.register.manage",
            "accountability",
        )
    )
    state.nav.append(
        NavItem("avg_accountability.audit_log", _l("Audit log"), "avg.audit.view", "accountability")
    )
    return bp


def register_commands(group: Any) -> None:
    from flask_avg.features.accountability.cli import register

    register(group)
