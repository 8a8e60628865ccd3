"""Forms for self-service: the correction form, built from the column types, and small fixed forms.

:func:`correction_form` makes a Flask-WTF form with one field per editable
column, chosen and validated from the SQLAlchemy type: ``String(n)`` gets a
length limit, e-mail columns (named ``*email*`` or declared with
``personal(..., format="email")``) an e-mail check, ``Date``/``DateTime`` a
date field, ``Enum`` or ``personal(..., choices=[...])`` a select, numbers a
number field, ``nullable=False`` makes the field required. Hosts add
validators of their own with ``personal(..., validators=[...])``.
Every message comes from flask-avg's catalogue, so errors read in Dutch or
English with the page.
"""

from __future__ import annotations

import enum
import re
from decimal import InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy import Boolean, Date, DateTime, Enum, Integer, Numeric, Text
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.presenters import column_label

# A practical e-mail check: something@domain.tld, no spaces; no DNS lookups.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


try:  # WTForms >= 3.3 deprecates (value, label) tuples
    from wtforms.fields.choices import SelectChoice as _SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    _SelectChoice = None


def choice(value: Any, label: Any = None) -> Any:
    """One select option, in the form this WTForms version wants."""
    label = value if label is None else label
    if _SelectChoice is not None:
        return _SelectChoice(value=str(value), label=label)
    return (str(value), label)


def _choice_value(item: Any) -> Any:
    return item.value if hasattr(item, "value") else item[0]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class _Email:
    def __call__(self, form: Any, field: Any) -> None:
        if field.data and not EMAIL_RE.match(field.data):
            raise ValidationError(_l("Enter a valid e-mail address, like name@example.org."))


class _Date(DateField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("Enter a valid date (year-month-day).")) from exc


class _DateTime(DateTimeLocalField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("Enter a valid date and time.")) from exc


class _Integer(IntegerField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            self.data = None
            raise ValueError(_l("Enter a whole number.")) from exc


class _Decimal(DecimalField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and isinstance(valuelist[0], str):
            valuelist = [valuelist[0].replace(",", ".")]  # Dutch decimal comma
        try:
            super().process_formdata(valuelist)
        except (ValueError, InvalidOperation) as exc:
            self.data = None
            raise ValueError(_l("Enter a number.")) from exc


class _Select(SelectField):
    def pre_validate(self, form: Any) -> None:
        if self.data in (None, "") and not self.flags.required:
            return
        values = [_choice_value(c) for c in self.choices or []]  # type: ignore[union-attr]
        if not any(str(value) == str(self.data) for value in values):
            raise ValidationError(_l("Choose one of the options."))


def _is_email(name: str, info: dict[str, Any]) -> bool:
    return info.get("format") == "email" or "email" in name.lower().replace("-", "")


def field_for(model: Any, name: str) -> Any:
    """A WTForms field for one column of ``model``, with validators from its type."""
    col = model.table.c[name]
    info = col.info
    label = column_label(model, name)
    required = not col.nullable
    validators: list[Any] = [
        InputRequired(message=_l("This field is required."))
        if required
        else Optional(strip_whitespace=True)
    ]
    col_type = col.type
    kwargs: dict[str, Any] = {"filters": [_strip]}
    choices = info.get("choices")
    if isinstance(col_type, Enum) or choices:
        if choices is None:
            enum_class = getattr(col_type, "enum_class", None)
            values = (
                [m.value if isinstance(m, enum.Enum) else m for m in enum_class]
                if enum_class is not None
                else list(col_type.enums)  # type: ignore[attr-defined]
            )
            choices = [(v, v) for v in values]
        choices = [choice(*c) if isinstance(c, tuple | list) else choice(c) for c in choices]
        if not required:
            choices = [choice("", "–"), *choices]
        field: Any = _Select(label, choices=choices, validators=validators)
    elif isinstance(col_type, DateTime):
        field = _DateTime(label, validators=validators)
    elif isinstance(col_type, Date):
        field = _Date(label, validators=validators)
    elif isinstance(col_type, Boolean):
        field = BooleanField(label, validators=[Optional()])
    elif isinstance(col_type, Integer):
        field = _Integer(label, validators=validators)
    elif isinstance(col_type, Numeric):
        places = getattr(col_type, "scale", None)
        field = _Decimal(label, validators=validators, places=places)
    else:
        length = getattr(col_type, "length", None)
        if length:
            validators.append(Length(max=length, message=_l("At most %(max)d characters, please.")))
        validators.extend(info.get("validators", ()))
        if _is_email(name, info):
            validators.append(_Email())
            field = EmailField(label, validators=validators, **kwargs)
        elif isinstance(col_type, Text) and not length:
            field = TextAreaField(label, validators=validators, **kwargs)
        else:
            field = StringField(label, validators=validators, **kwargs)
        return field
    return field


def correction_form(model: Any, columns: list[str], obj: Any = None, **kwargs: Any) -> FlaskForm:
    """A form for ``columns`` of ``model``; prefilled from ``obj`` on GET."""

    class CorrectionForm(FlaskForm):
        pass

    for name in columns:
        setattr(CorrectionForm, f"f_{name}", field_for(model, name))
    data = {}
    if obj is not None:
        data = {f"f_{name}": model.value(obj, name) for name in columns}
    form = CorrectionForm(data=data, **kwargs)
    form.avg_columns = columns  # type: ignore[attr-defined]
    return form


def form_values(form: Any) -> dict[str, Any]:
    """Column -> cleaned value from a validated correction form ('' becomes None)."""
    out = {}
    for name in form.avg_columns:
        value = form[f"f_{name}"].data
        if value == "":
            value = None
        out[name] = value
    return out


class RequestForm(FlaskForm):
    kind = HiddenField()
    purpose = SelectField(_l("Purpose"), choices=[], validate_choice=False)
    field = SelectField(_l("Field"), choices=[], validate_choice=False)
    message = TextAreaField(
        _l("Explanation (optional)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=2000, message=_l("At most %(max)d characters, please.")),
        ],
    )
    password = PasswordField(_l("Your password"))


class StatusForm(FlaskForm):
    status = HiddenField()
    reason = TextAreaField(
        _l("Reason for the %(subject)s"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=2000, message=_l("At most %(max)d characters, please.")),
        ],
    )


class FieldRightsForm(FlaskForm):
    """The board's field-rights screen; the checkboxes are read from ``request.form``."""
