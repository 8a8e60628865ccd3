"""The request pages' forms: the member's request with a requested value, and the
board's decisions (apply, confirm an erasure, extend, record a paper or phone request)."""

from __future__ import annotations

from typing import Any

from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from flask_avg.core.forms import AvgForm, RequestForm
from flask_avg.core.i18n import lazy_gettext as _l

TOO_LONG = _l("At most %(max)d characters, please.")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class MemberRequestForm(RequestForm):
    """The member's request; a correction also carries the value asked for."""

    value = TextAreaField(
        _l("What should it be?"),
        filters=[_strip],
        validators=[Optional(), Length(max=2000, message=TOO_LONG)],
    )


class ConfirmForm(AvgForm):
    """Only the CSRF token: apply a correction, confirm an erasure."""


class ExtendForm(AvgForm):
    days = IntegerField(
        _l("Extra days"),
        validators=[
            InputRequired(message=_l("Give the number of extra days.")),
            NumberRange(min=1, max=366, message=_l("A whole number of days, please.")),
        ],
    )
    reason = TextAreaField(
        _l("Reason, as the %(subject)s will read it"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("An extension needs a reason.")),
            Length(max=2000, message=TOO_LONG),
        ],
    )


class PaperRequestForm(AvgForm):
    """A request the board received on paper, by phone or in person."""

    subject = HiddenField(validators=[DataRequired(message=_l("Choose the %(subject)s."))])
    kind = SelectField(_l("Request"), choices=[], validate_choice=True)
    channel = SelectField(_l("Received"), choices=[], validate_choice=True)
    received_on = DateField(_l("Received on"), validators=[Optional()])
    purpose = SelectField(_l("Purpose"), choices=[], validate_choice=False)
    field = SelectField(_l("Field"), choices=[], validate_choice=False)
    value = TextAreaField(
        _l("What should it be?"),
        filters=[_strip],
        validators=[Optional(), Length(max=2000, message=TOO_LONG)],
    )
    message = TextAreaField(
        _l("What the %(subject)s asked, in short"),
        filters=[_strip],
        validators=[Optional(), Length(max=2000, message=TOO_LONG)],
    )
    identity_check = SelectField(_l("Identity checked by"), choices=[], validate_choice=True)
    identity_note = TextAreaField(
        _l("How identity was checked (note)"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Say how you checked who is asking.")),
            Length(max=500, message=TOO_LONG),
        ],
    )


class SubjectSearchForm(AvgForm):
    class Meta:
        csrf = False

    q = StringField(
        _l("Search by name, e-mail or number"),
        filters=[_strip],
        validators=[Optional(), Length(max=100, message=TOO_LONG)],
    )
