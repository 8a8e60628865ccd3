"""Purposes a member may object to: a stable key each, and a label in the page's language.

Declared purposes may be plain strings, lazy strings from the host's catalogue
or ``{"nl": ..., "en": ...}``. An objection is stored under a key that does
not change with the language: the English text of a ``{"nl", "en"}`` purpose
(else its first text), the message id of a lazy string, or the plain string.
Hosts pass the same key to ``avg.not_objected(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_avg.core.config import config_value
from flask_avg.core.i18n import localise

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: Host texts follow the page language the same way everywhere.
host_text = localise


def purpose_key(value: Any) -> str:
    """The language-independent key of a declared purpose."""
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), ""))
    args = getattr(value, "_args", None)  # a lazy string: its message id
    if args and isinstance(args[0], str):
        return args[0]
    return str(value)


def objection_purposes(state: AvgState) -> dict[str, Any]:
    """Every declared purpose plus ``AVG_OBJECTION_PURPOSES``: key -> text to show."""
    found: dict[str, Any] = {}
    for model in state.registry:
        for spec in model.columns.values():
            if spec.purpose:
                found.setdefault(purpose_key(spec.purpose), spec.purpose)
    for purpose in config_value("OBJECTION_PURPOSES"):
        found.setdefault(purpose_key(purpose), purpose)
    return found


def purpose_label(state: AvgState, key: str | None) -> Any:
    """The text to show for a stored purpose key, in the page's language."""
    if key is None:
        return ""
    return host_text(objection_purposes(state).get(key, key))
