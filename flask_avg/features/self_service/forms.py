"""The member's correction form over several models: the subject and their profiles.

Each field is named ``f_<key>`` after its field key (``f_phone``,
``f_Profile.street``; see :mod:`~flask_avg.features.self_service.field_policy`),
and built from its column by :func:`flask_avg.core.forms.field_for`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from wtforms.validators import InputRequired, Optional

from flask_avg.core.forms import AvgForm, field_for
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.features.self_service import field_policy

if TYPE_CHECKING:
    from flask_avg.core.registry import DeclaredModel
    from flask_avg.extension import AvgState


def _optional(field: Any) -> Any:
    """The unbound field with its required check dropped (see :func:`missing_required`)."""
    validators = field.kwargs.get("validators") or []
    field.kwargs["validators"] = [
        Optional(strip_whitespace=True) if isinstance(v, InputRequired) else v for v in validators
    ]
    return field


def correction_form(
    state: AvgState,
    keys: list[str],
    rows: dict[DeclaredModel, Any] | None = None,
    new: Collection[DeclaredModel] = (),
) -> AvgForm:
    """A form for the fields ``keys``; prefilled from ``rows`` (model -> the member's row) on GET.

    Fields of the models in ``new`` (profiles the member has no row of yet) are
    optional: left empty, no row is made; see :func:`missing_required`.
    """

    class CorrectionForm(AvgForm):
        pass

    data = {}
    for key in keys:
        model, column = field_policy.split_key(state, key)
        field = field_for(model, column)
        setattr(CorrectionForm, f"f_{key}", _optional(field) if model in new else field)
        row = (rows or {}).get(model)
        if row is not None:
            data[f"f_{key}"] = model.value(row, column)
    form = CorrectionForm(data=data)
    form.avg_keys = keys  # type: ignore[attr-defined]
    return form


def form_values(form: Any) -> dict[str, Any]:
    """Field key -> cleaned value from a validated correction form ('' becomes None)."""
    out = {}
    for key in form.avg_keys:
        value = form[f"f_{key}"].data
        out[key] = None if value == "" else value
    return out


def missing_required(state: AvgState, form: Any, new: Collection[DeclaredModel]) -> bool:
    """Mark the empty NOT NULL fields of a new profile the member started to fill in;
    returns whether there were any. A profile left wholly empty is not created."""
    values = form_values(form)
    found = False
    for model in new:
        own = {k: v for k, v in values.items() if field_policy.split_key(state, k)[0] is model}
        if all(v is None for v in own.values()):
            continue
        for key, value in own.items():
            column = field_policy.split_key(state, key)[1]
            if value is None and not model.table.c[column].nullable:
                form[f"f_{key}"].errors = [_l("This field is required.")]
                found = True
    return found
