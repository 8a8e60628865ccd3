"""Which fields of the member record a member may correct themselves.

The declaration (``personal(..., editable=True)``) gives the default; the
board overrides it per field on the field-rights screen, stored in
``state.settings`` as ``fields.<Model>.<column>.editable``. Only the subject
model's own columns can ever be member-editable, and never its primary key,
foreign keys, secrets or the retention anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_avg.core.presenters import column_label

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def setting_key(model_name: str, column: str) -> str:
    return f"fields.{model_name}.{column}.editable"


@dataclass(frozen=True)
class FieldRight:
    column: str
    label: Any
    default: bool
    editable: bool
    overridden: bool


def eligible_columns(state: AvgState) -> list[str]:
    """Subject columns the board may open for members, in table order."""
    model = state.registry.subject
    anchor = model.policy.anchor
    out = []
    for name, spec in model.columns.items():
        col = model.table.c[name]
        if spec.secret or col.primary_key or col.foreign_keys or name == anchor:
            continue
        out.append(name)
    return out


def rights(state: AvgState) -> list[FieldRight]:
    """Every eligible column with its default and its current right."""
    model = state.registry.subject
    out = []
    for name in eligible_columns(state):
        default = bool(model.columns[name].editable)
        stored = state.settings.get(setting_key(model.name, name))
        out.append(
            FieldRight(
                column=name,
                label=column_label(model, name),
                default=default,
                editable=default if stored is None else bool(stored),
                overridden=stored is not None,
            )
        )
    return out


def editable_columns(state: AvgState) -> list[str]:
    """The subject columns a member may correct right now."""
    return [r.column for r in rights(state) if r.editable]


def locked_columns(state: AvgState) -> list[str]:
    """Declared subject columns a member may see but not correct (a correction request can)."""
    model = state.registry.subject
    editable = set(editable_columns(state))
    return [
        name
        for name, spec in model.columns.items()
        if name not in editable and not spec.secret and not model.table.c[name].primary_key
    ]


def set_rights(state: AvgState, wanted: dict[str, bool], *, actor: str | None) -> list[str]:
    """Store the board's choices; returns the columns whose right changed."""
    model = state.registry.subject
    current = {r.column: r for r in rights(state)}
    changed = []
    for name, value in wanted.items():
        right = current.get(name)
        if right is None or right.editable == bool(value):
            continue
        state.settings.set(setting_key(model.name, name), bool(value), actor=actor)
        changed.append(name)
    return changed
