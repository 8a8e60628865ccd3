"""Template helpers every flask-avg page uses: formatting, navigation, permissions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request, url_for
from flask_babel import format_date, format_datetime, format_decimal, get_locale

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.presenters import app_name, column_label

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


#: The menu's groups, in their order; a :class:`NavItem` names one by its key.
NAV_GROUPS: dict[str, Any] = {
    "members": _l("%(Subjects)s"),
    "requests": _l("Requests"),
    "retention": _l("Retention"),
    "accountability": _l("Accountability"),
    "access": _l("Access"),
}


@dataclass(frozen=True)
class NavItem:
    """A link in flask-avg's menu, shown to users allowed ``action``.

    ``group``: a key of :data:`NAV_GROUPS` (an unknown or empty group shows the
    link ungrouped, first). ``badge``: called when the link is shown (only on
    flask-avg's pages, only to users allowed ``action``), it returns a count of
    work waiting (``0`` shows nothing); keep it to one cheap query.
    """

    endpoint: str
    label: Any
    action: str
    group: str = ""
    badge: Callable[[], int] | None = None


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
            {
                "url": url_for(item.endpoint),
                "label": item.label,
                "group": item.group,
                "current": request.endpoint == item.endpoint,
                "badge": item.badge() if item.badge is not None else 0,
            }
            for item in state.nav
            if item.endpoint.split(".")[0] in current_app.blueprints and state.can(item.action)
        ]

    def nav_groups(lead: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
        """The menu: ungrouped links first (label ``None``), then each group with links.

        ``lead``: links the layout itself adds at the start of a group (``""`` for
        the ungrouped ones), each a dict with ``url``, ``label`` and ``current``.
        """
        lead = lead or {}
        items = nav_items()
        loose = [*lead.get("", []), *(i for i in items if i["group"] not in NAV_GROUPS)]
        groups = [{"key": "", "label": None, "items": loose}] if loose else []
        for key, label in NAV_GROUPS.items():
            members = [*lead.get(key, []), *(i for i in items if i["group"] == key)]
            if members:
                groups.append({"key": key, "label": label, "items": members})
        return groups

    def page_lang() -> str:
        """The page's language as an HTML ``lang`` value (``nl``, ``en``, ``pt-BR``)."""
        return str(get_locale() or app.config["AVG_DEFAULT_LOCALE"]).replace("_", "-")

    env.globals.update(
        avg_can=state.can,
        avg_locale=lambda: str(get_locale() or app.config["AVG_DEFAULT_LOCALE"]),
        avg_blueprints=lambda: set(current_app.blueprints),
        avg_nav_items=nav_items,
        avg_nav_groups=nav_groups,
        avg_lang=page_lang,
        avg_club_name=app_name,
        avg_column_label=column_label,
    )
