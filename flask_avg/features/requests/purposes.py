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


#: the legal bases Art. 21(1) gives a right to object to (public task, legitimate interest)
OBJECTABLE_BASES = ("public_task", "legitimate_interest")


def declared_purposes(state: AvgState) -> dict[str, tuple[Any, set[str | None]]]:
    """Every declared purpose: key -> (text, the legal bases it is declared with)."""
    found: dict[str, tuple[Any, set[str | None]]] = {}
    for model in state.registry:
        for spec in model.columns.values():
            if spec.purpose:
                key = purpose_key(spec.purpose)
                found.setdefault(key, (spec.purpose, set()))[1].add(spec.basis)
    return found


def objection_purposes(state: AvgState) -> dict[str, Any]:
    """The purposes a member may object to (Art. 21): declared purposes based on a
    public task or a legitimate interest, plus ``AVG_OBJECTION_PURPOSES`` (direct
    marketing, such as a newsletter, always): key -> text to show."""
    found: dict[str, Any] = {}
    for key, (text, bases) in declared_purposes(state).items():
        if bases & set(OBJECTABLE_BASES):
            found.setdefault(key, text)
    for purpose in config_value("OBJECTION_PURPOSES"):
        found.setdefault(purpose_key(purpose), purpose)
    return found


def consent_based_purposes(state: AvgState) -> dict[str, Any]:
    """Declared purposes based on consent (Art. 6(1)(a)): withdrawn, not objected to."""
    return {
        key: text for key, (text, bases) in declared_purposes(state).items() if "consent" in bases
    }


def purpose_label(state: AvgState, key: str | None) -> Any:
    """The text to show for a stored purpose key, in the page's language."""
    if key is None:
        return ""
    known = {k: text for k, (text, _bases) in declared_purposes(state).items()}
    known.update(objection_purposes(state))
    return host_text(known.get(key, key))
