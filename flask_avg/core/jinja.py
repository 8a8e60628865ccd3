"""Template helpers every flask-avg page uses: formatting, navigation, permissions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request, url_for
from flask_babel import format_date, format_decimal, format_time, get_locale

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.presenters import (
    actor_names,
    app_name,
    column_label,
    field_label,
    model_label,
    subject_labels,
)

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
        return format_when(value)
    if isinstance(value, date):
        return format_day(value)
    if isinstance(value, Decimal):
        # Keep the stored precision: an amount of 85.00 reads "85,00", not "85".
        places = max(-value.as_tuple().exponent, 0) if value.is_finite() else 0  # type: ignore[operator]
        return str(format_decimal(value, format="#,##0." + "0" * places if places else "#,##0"))
    if isinstance(value, float):
        return str(format_decimal(value))
    return str(value)


def format_day(value: Any) -> str:
    """A date (or the date of a datetime) the one way flask-avg pages write it, in the
    page's language through Babel: "28 november 2026", "November 28, 2026"."""
    if value is None or value == "":
        return "–"
    if isinstance(value, datetime):
        from flask_babel import to_user_timezone

        value = to_user_timezone(value).date()
    return str(format_date(value, "long"))


def format_when(value: Any) -> str:
    """A moment: the date as :func:`format_day` and the time in the page's locale
    ("28 november 2026 om 14:05"). A plain date reads as :func:`format_day`."""
    from flask_avg.core.i18n import gettext as _

    if value is None or value == "":
        return "–"
    if not isinstance(value, datetime):
        return format_day(value)
    return _("%(date)s at %(time)s", date=format_day(value), time=str(format_time(value, "short")))


def format_month(value: Any) -> str:
    """A month of a year in the page's language: "nov. 2026" / "Nov 2026"."""
    if value is None or value == "":
        return "–"
    return str(format_date(value, "MMM y"))


def actor_label(state: AvgState, key: Any) -> str:
    """An account key as a person: their name and e-mail (cached per request)."""
    if key is None or key == "":
        return "–"
    from flask import g

    cache = g.setdefault("_avg_actor_labels", {})
    if key not in cache:
        cache[key] = actor_names(state, [str(key)]).get(str(key), str(key))
    return str(cache[key])


def subject_name(state: AvgState, key: Any) -> str:
    """A stored subject key as the person: "Jan de Vries (W10001)" (cached per request)."""
    if key is None or key == "":
        return "–"
    from flask import g

    from flask_avg.core.i18n import gettext as _

    cache = g.setdefault("_avg_subject_labels", {})
    if key not in cache:
        if state.is_erased(state.registry.subject.name, str(key)):
            cache[key] = _("erased %(subject)s #%(key)s", key=key)
        else:
            cache[key] = subject_labels(state, [str(key)]).get(str(key), f"#{key}")
    return str(cache[key])


def install(app: Flask, state: AvgState) -> None:
    env = app.jinja_env
    env.filters["avg_value"] = format_value
    env.filters["avg_date"] = format_day
    env.filters["avg_datetime"] = format_when
    env.filters["avg_month"] = format_month
    env.tests["avg_can"] = lambda action: state.can(action)
    env.filters["avg_actor"] = lambda key: actor_label(state, key)
    env.filters["avg_subject"] = lambda key: subject_name(state, key)
    env.filters["avg_field"] = lambda key: field_label(state, key)
    env.filters["avg_model"] = lambda name: model_label(state, name)

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
