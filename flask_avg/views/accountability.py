"""The accountability blueprint: consent, the register, the inventory, breaches, the dashboard
and the audit log screen. Each concept's routes live in a module of its own."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..i18n import lazy_gettext as _l
from ..jinja import NavItem
from . import make_blueprint


def create_blueprint(state: Any) -> Blueprint:
    from . import audit_log, breaches, consent, dashboard, inventory, register

    bp = make_blueprint("accountability", __name__)
    consent.register_routes(bp, state)
    register.register_routes(bp, state)
    inventory.register_routes(bp, state)
    breaches.register_routes(bp, state)
    dashboard.register_routes(bp, state)
    audit_log.register_routes(bp, state)
    state.nav.append(NavItem("avg_accountability.dashboard", _l("Dashboard"), "avg.audit.view"))
    state.nav.append(
        NavItem("avg_accountability.consent_purposes", _l("Consent"), "avg.consent.manage")
    )
    state.nav.append(
        NavItem("avg_accountability.breaches_list", _l("Breaches"), "avg.breaches.manage")
    )
    state.nav.append(
        NavItem("avg_accountability.register_page", _l("Register"), "avg.register.manage")
    )
    state.nav.append(NavItem("avg_accountability.audit_log", _l("Audit log"), "avg.audit.view"))
    return bp


def register_commands(group: Any) -> None:
    from ..accountability_cli import register

    register(group)
