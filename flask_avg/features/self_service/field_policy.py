"""Which fields of their own data a member may correct themselves.

The declaration (``personal(..., editable=True)``) gives the default; the
board overrides it per field on the field-rights screen, stored in
``state.settings`` as ``fields.<Model>.<column>.editable``. Member-editable
fields live on the subject model or on a one-to-one model linked to it or to
its login account (a profile: at most one row per member, see
:attr:`~flask_avg.core.registry.DeclaredModel.one_to_one`); never a primary
key, foreign key, secret or retention anchor.

A field is named by its *key*: the column name on the subject (``phone``),
``Model.column`` on a profile (``Profile.street``). Forms, correction requests
and :func:`flask_avg.features.self_service.service.correct` use the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_avg.core.presenters import column_label
from flask_avg.core.registry import DeclaredModel

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
    #: the declared model's name (the subject's, or a profile's)
    model: str = ""
    #: the field's key: ``column`` on the subject, ``Model.column`` on a profile
    key: str = ""


def member_models(state: AvgState) -> list[DeclaredModel]:
    """The subject and the one-to-one models whose fields members may see as their own."""
    return [state.registry.subject, *(m for m in state.registry if m.one_to_one)]


def field_key(model: DeclaredModel, column: str) -> str:
    return column if model.is_subject else f"{model.name}.{column}"


def split_key(state: AvgState, key: str) -> tuple[DeclaredModel, str]:
    """The model and column a field key names; ``KeyError`` for anything else."""
    name, dot, column = key.rpartition(".")
    model = state.registry.subject if not dot else state.registry.get(name)
    if not (model.is_subject or model.one_to_one) or column not in model.columns:
        raise KeyError(key)
    return model, column


def field_label(model: DeclaredModel, column: str) -> Any:
    """The column's label; on a profile prefixed with the model's (``Profile: Street``)."""
    label = column_label(model, column)
    return label if model.is_subject else f"{model.label}: {label}"


def request_field(state: AvgState, key: str) -> str:
    """How a correction request names the field: ``Model.column``."""
    model, column = split_key(state, key)
    return f"{model.name}.{column}"


def eligible_columns(state: AvgState, model: DeclaredModel | None = None) -> list[str]:
    """Columns of ``model`` (default: the subject) the board may open for members, in table order."""
    model = model or state.registry.subject
    anchor = model.policy.anchor
    out = []
    for name, spec in model.columns.items():
        col = model.table.c[name]
        if spec.secret or col.primary_key or col.foreign_keys or name == anchor:
            continue
        out.append(name)
    return out


def rights(state: AvgState) -> list[FieldRight]:
    """Every eligible field with its default and its current right; the subject's first."""
    out = []
    for model in member_models(state):
        for name in eligible_columns(state, model):
            default = bool(model.columns[name].editable)
            stored = state.settings.get(setting_key(model.name, name))
            out.append(
                FieldRight(
                    column=name,
                    label=field_label(model, name),
                    default=default,
                    editable=default if stored is None else bool(stored),
                    overridden=stored is not None,
                    model=model.name,
                    key=field_key(model, name),
                )
            )
    return out


def editable_columns(state: AvgState) -> list[str]:
    """The keys of the fields a member may correct right now."""
    return [r.key for r in rights(state) if r.editable]


def locked_columns(state: AvgState) -> list[str]:
    """Keys of declared fields a member may see but not correct (a correction request can)."""
    editable = set(editable_columns(state))
    return [
        field_key(model, name)
        for model in member_models(state)
        for name, spec in model.columns.items()
        if field_key(model, name) not in editable
        and not spec.secret
        and not model.table.c[name].primary_key
    ]


def set_rights(state: AvgState, wanted: dict[str, bool], *, actor: str | None) -> list[str]:
    """Store the board's choices (``{key: editable}``); returns the keys whose right changed."""
    current = {r.key: r for r in rights(state)}
    changed = []
    for key, value in wanted.items():
        right = current.get(key)
        if right is None or right.editable == bool(value):
            continue
        state.settings.set(setting_key(right.model, right.column), bool(value), actor=actor)
        changed.append(key)
    return changed
