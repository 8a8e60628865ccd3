"""Template helpers every flask-avg page uses: formatting, navigation, permissions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, url_for
from flask_babel import format_date, format_datetime, format_decimal, get_locale

from flask_avg.core.presenters import app_name, column_label

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@dataclass(frozen=True)
class NavItem:
    """A link in flask-avg's menu, shown to users allowed ``action``."""

    endpoint: str
    label: Any
    action: str


def format_value(value: Any) -> str:
    """A personal value for display; booleans and dates in the page's language."""
    from flask_avg.core.i18n import gettext as _

    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return str(format_datetime(value, "short"))
    if isinstance(value, date):
        return str(format_date(value, "medium"))
    if isinstance(value, Decimal):
        # Keep the stored precision: an amount of 85.00 reads "85,00", not "85".
        places = max(-value.as_tuple().exponent, 0) if value.is_finite() else 0  # type: ignore[operator]
        return str(format_decimal(value, format="#,##0." + "0" * places if places else "#,##0"))
    if isinstance(value, float):
        return str(format_decimal(value))
    return str(value)


def actor_label(state: AvgState, key: Any) -> str:
    """An account key as a person: their e-mail or name (cached per request)."""
    if key is None or key == "":
        return "–"
    from flask import g

    from flask_avg.core.identity import actor_labels

    cache = g.setdefault("_avg_actor_labels", {})
    if key not in cache:
        cache[key] = actor_labels(state, [str(key)]).get(str(key), str(key))
    return str(cache[key])


def install(app: Flask, state: AvgState) -> None:
    env = app.jinja_env
    env.filters["avg_value"] = format_value
    env.filters["avg_date"] = lambda d: format_date(d, "long") if d else "–"
    env.tests["avg_can"] = lambda action: state.can(action)
    env.filters["avg_actor"] = lambda key: actor_label(state, key)

    def nav_items() -> list[dict[str, Any]]:
        return [
            {"url": url_for(item.endpoint), "label": item.label}
            for item in state.nav
            if item.endpoint.split(".")[0] in current_app.blueprints and state.can(item.action)
        ]

    env.globals.update(
        avg_can=state.can,
        avg_locale=lambda: str(get_locale() or app.config["AVG_DEFAULT_LOCALE"]),
        avg_blueprints=lambda: set(current_app.blueprints),
        avg_nav_items=nav_items,
        avg_club_name=app_name,
        avg_column_label=column_label,
    )
