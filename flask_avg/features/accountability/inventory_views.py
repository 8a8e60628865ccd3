"""The personal-data inventory page (board only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from flask_avg.extension import require
from flask_avg.features.accountability import inventory


def register_routes(bp: Blueprint, state: Any) -> None:
    @bp.route("/inventory")
    @require("avg.register.manage")
    def inventory_page() -> Any:
        inv = inventory.build(state)
        state.audit.record("inventory.view", detail={"flagged": len(inv.flagged)})
        state.db.session.commit()
        return render_template("avg/accountability/inventory.html", inv=inv)
