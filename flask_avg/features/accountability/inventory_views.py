"""The personal-data inventory page (board only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template

from flask_avg.extension import get_state, require
from flask_avg.features.accountability import inventory

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@require("avg.register.manage")
def inventory_page() -> Any:
    inv = inventory.view(get_state())
    return render_template("avg/accountability/inventory.html", inv=inv)


def register_routes(bp: Blueprint, state: AvgState) -> None:
    bp.add_url_rule(
        "/inventory", endpoint="inventory_page", view_func=inventory_page, methods=["GET"]
    )
