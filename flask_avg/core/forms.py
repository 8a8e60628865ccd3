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

Every flask-avg form derives from :class:`AvgForm`, which refuses control
characters in every posted value (newlines and tabs only in multi-line
fields), so no feature's form has to list that check. Numbers and dates are
bounded by what the column (and ``datetime``) can hold.
"""

from __future__ import annotations

import enum
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    Integer,
    Numeric,
    Text,
)
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
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from flask_avg.core.converters import MAX_DATE, MIN_DATE, int_range
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.presenters import column_label

# A practical e-mail check, no DNS lookups: an RFC 5322 dot-atom before the @ (letters,
# digits and ! # $ % & ' * + / = ? ^ _ ` { | } ~ -, no ; , " or spaces), a domain of
# letters, digits and hyphens with a top-level part of two or more letters. The first
# character may not start a spreadsheet formula (= + - @), so an address such as
# ``a;=cmd|'/Ccalc'!A0@x.nl`` or ``=1+1@x.nl`` is refused.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
EMAIL_RE = re.compile(
    rf"^(?![=+\-@])({_ATOM}(?:\.{_ATOM})*)@((?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_][\w-]*[^\W_])\Z"
)

#: Text columns without a length get this limit (characters): a MariaDB TEXT holds
#: 65,535 bytes, four per character at most.
TEXT_LIMIT = 16_000


def control_characters(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds a control character (C0, DEL or C1; NUL included).

    In a ``multiline`` field the line break (CR, LF) and the tab are allowed.
    """
    allowed = "\r\n\t" if multiline else ""
    return any((ch < "\x20" or "\x7f" <= ch <= "\x9f") and ch not in allowed for ch in text)


def _multiline(field: Any) -> bool:
    return isinstance(field, TextAreaField)


class AvgForm(FlaskForm):
    """The base of every flask-avg form: Flask-WTF's CSRF check, and no control characters.

    After the fields' own validators, every posted value (except passwords) is
    checked: NUL and the other C0/C1 control characters are refused with a form
    error in the page's language; line breaks and tabs only in a text area. A
    form that fails here stores nothing, as with any other validation error.
    """

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field, PasswordField):
                continue
            values = [v for v in (field.raw_data or []) if isinstance(v, str)]
            if isinstance(field.data, str):
                values.append(field.data)
            if any(control_characters(v, multiline=_multiline(field)) for v in values):
                message = (
                    _l("Remove the control characters from this text.")
                    if _multiline(field)
                    else _l("Remove the line breaks and control characters from this text.")
                )
                field.errors = [*field.errors, message]
                valid = False
        return valid


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


class DateInRange:
    """A date (or the date of a datetime) within ``min`` .. ``max`` (callables allowed,
    e.g. "tomorrow"); the message names both ends."""

    def __init__(self, min: Any = MIN_DATE, max: Any = MAX_DATE) -> None:  # noqa: A002
        self.min, self.max = min, max

    def __call__(self, form: Any, field: Any) -> None:
        value = field.data
        if value is None:
            return
        day = value.date() if hasattr(value, "date") and callable(value.date) else value
        low = self.min() if callable(self.min) else self.min
        high = self.max() if callable(self.max) else self.max
        if not low <= day <= high:
            raise ValidationError(
                _l(
                    "Enter a date from %(min)s to %(max)s.",
                    min=low.isoformat(),
                    max=high.isoformat(),
                )
            )


def whole_number(min: int, max: int) -> NumberRange:  # noqa: A002
    """A bound on a whole number, with a message in the page's language."""
    return NumberRange(min=min, max=max, message=_l("Enter a number from %(min)s to %(max)s."))


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
        # 10**30 digits would parse; a length cap keeps int() cheap and the message clear
        if valuelist and isinstance(valuelist[0], str) and len(valuelist[0].strip()) > 20:
            self.data = None
            raise ValueError(_l("Enter a whole number."))
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
        field = _DateTime(label, validators=[*validators, DateInRange()])
    elif isinstance(col_type, Date):
        field = _Date(label, validators=[*validators, DateInRange()])
    elif isinstance(col_type, Boolean):
        field = BooleanField(label, validators=[Optional()])
    elif isinstance(col_type, Integer):
        low, high = int_range(col_type)
        field = _Integer(label, validators=[*validators, whole_number(low, high)])
    elif isinstance(col_type, Numeric):
        places = getattr(col_type, "scale", None)
        precision = getattr(col_type, "precision", None)
        if precision:  # NUMERIC(p, s) holds less than 10**(p - s)
            top = Decimal(10) ** (precision - (places or 0)) - Decimal(1).scaleb(-(places or 0))
            validators = [
                *validators,
                NumberRange(
                    min=-top, max=top, message=_l("Enter a number from %(min)s to %(max)s.")
                ),
            ]
        field = _Decimal(label, validators=validators, places=places)
    else:
        length = getattr(col_type, "length", None)
        if not length:
            validators.append(
                Length(max=TEXT_LIMIT, message=_l("At most %(max)d characters, please."))
            )
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


def correction_form(model: Any, columns: list[str], obj: Any = None, **kwargs: Any) -> AvgForm:
    """A form for ``columns`` of ``model``; prefilled from ``obj`` on GET."""

    class CorrectionForm(AvgForm):
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


class RequestForm(AvgForm):
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


class StatusForm(AvgForm):
    status = HiddenField()
    reason = TextAreaField(
        _l("Reason for the %(subject)s"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=2000, message=_l("At most %(max)d characters, please.")),
        ],
    )


class FieldRightsForm(AvgForm):
    """The board's field-rights screen; the checkboxes are read from ``request.form``."""
