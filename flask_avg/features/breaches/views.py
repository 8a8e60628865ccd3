"""The breach register pages: list with the 72-hour clock, record/update form, exports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import to_user_timezone, to_utc
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from flask_avg.core.audit import current_actor
from flask_avg.core.converters import MIN_DATE
from flask_avg.core.forms import TEXT_LIMIT, AvgForm, DateInRange, whole_number
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state, require
from flask_avg.features.breaches import service as breaches
from flask_avg.features.breaches.models import Breach

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

_DT = "%Y-%m-%dT%H:%M"
#: More people than live on earth is a typing error.
MAX_AFFECTED = 10**9


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _tomorrow() -> date:
    return date.today() + timedelta(days=1)


#: A moment of a breach: not before 1900, not after tomorrow (a typo such as 9999-12-31
#: would break the 72-hour clock; a day of slack covers every time zone).
_MOMENT = DateInRange(MIN_DATE, _tomorrow)
_TEXT = Length(max=TEXT_LIMIT)


class BreachForm(AvgForm):
    title = StringField(_l("Short description"), validators=[DataRequired(), Length(max=200)])
    started_at = DateTimeLocalField(
        _l("Started (if known)"), format=_DT, validators=[Optional(), _MOMENT]
    )
    discovered_at = DateTimeLocalField(
        _l("Discovered"), format=_DT, validators=[DataRequired(), _MOMENT]
    )
    ended_at = DateTimeLocalField(_l("Ended"), format=_DT, validators=[Optional(), _MOMENT])
    nature = TextAreaField(_l("Nature of the breach (what happened)"), validators=[_TEXT])
    scope = TextAreaField(_l("Scope (which systems, files or records)"), validators=[_TEXT])
    consequences = TextAreaField(
        _l("Likely consequences for the people affected"), validators=[_TEXT]
    )
    categories = MultiCheckbox(_l("Categories of personal data involved"))
    affected_models = MultiCheckbox(_l("Count the people affected from these records"))
    affected_from = DateField(_l("Records dated from"), validators=[Optional(), DateInRange()])
    affected_to = DateField(_l("Records dated until"), validators=[Optional(), DateInRange()])
    affected_count = IntegerField(
        _l("Approximate number of people affected (when not counted)"),
        validators=[Optional(), whole_number(0, MAX_AFFECTED)],
    )
    expected_recovery = TextAreaField(_l("Expected recovery"), validators=[_TEXT])
    measures_taken = TextAreaField(_l("Measures taken"), validators=[_TEXT])
    measures_planned = TextAreaField(_l("Measures planned"), validators=[_TEXT])
    ap_notified_at = DateTimeLocalField(
        _l("Authority (AP) notified at"), format=_DT, validators=[Optional(), _MOMENT]
    )
    ap_reference = StringField(_l("AP reference number"), validators=[Length(max=100)])
    ap_not_required_reason = TextAreaField(
        _l("Not notified to the AP because (unlikely to result in a risk)"), validators=[_TEXT]
    )
    people_notified_at = DateTimeLocalField(
        _l("People affected notified at"), format=_DT, validators=[Optional(), _MOMENT]
    )
    people_not_required_reason = TextAreaField(
        _l("People not notified because"), validators=[_TEXT]
    )
    closed = BooleanField(_l("Closed"))


def _to_utc(value: datetime | None) -> datetime | None:
    """A naive time typed in the user's time zone, as aware UTC."""
    return None if value is None else to_utc(value).replace(tzinfo=UTC)


def _to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return to_user_timezone(value).replace(tzinfo=None)
    except OverflowError:  # stored near year 9999 by older code: shown as stored (UTC)
        return value.replace(tzinfo=None)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _fill_choices(state: AvgState, form: BreachForm) -> None:
    cats = state.catalogue.categories
    form.categories.choices = [
        SelectChoice(key, str(cats[key].label)) for key in state.registry.categories
    ]
    form.affected_models.choices = [SelectChoice(m.name, str(m.label)) for m in state.registry]


def _form_for(breach: Breach | None) -> BreachForm:
    """The form for a new breach (discovered now) or filled from ``breach``."""
    if breach is None:
        return BreachForm(data={"discovered_at": _to_local(utcnow())})
    data: dict[str, Any] = {name: getattr(breach, name) for name in breaches.TEXT_FIELDS}
    data.update({name: _to_local(getattr(breach, name)) for name in breaches.TIME_FIELDS})
    filt = breach.affected_filter
    data.update(
        categories=breach.category_list,
        affected_models=filt.get("models", []),
        affected_from=_date(filt.get("from")),
        affected_to=_date(filt.get("to")),
        affected_count=None if breach.affected_computed else breach.affected_count,
        closed=breach.closed_at is not None,
    )
    return BreachForm(data=data)


def _input(form: BreachForm) -> breaches.BreachInput:
    """What the form says, times typed in the user's time zone as UTC."""
    values: dict[str, Any] = {name: form[name].data or "" for name in breaches.TEXT_FIELDS}
    values.update({name: _to_utc(form[name].data) for name in breaches.TIME_FIELDS})
    return breaches.BreachInput(
        **values,
        categories=list(form.categories.data or []),
        affected_models=list(form.affected_models.data or []),
        affected_from=form.affected_from.data,
        affected_to=form.affected_to.data,
        affected_count=form.affected_count.data,
        closed=bool(form.closed.data),
    )


@require("avg.breaches.manage")
def breaches_list() -> Any:
    rows = breaches.newest_first(get_state().db.session)
    return render_template(
        "avg/accountability/breaches.html",
        rows=[(b, breaches.clock(b)) for b in rows],
    )


@require("avg.breaches.manage")
def breach_edit(breach_id: int | None = None) -> Any:
    state = get_state()
    breach = state.db.session.get(Breach, breach_id) if breach_id is not None else None
    if breach_id is not None and breach is None:
        abort(404)
    form = _form_for(breach)
    _fill_choices(state, form)
    if form.validate_on_submit():
        breach = breaches.record(state, _input(form), breach, actor=current_actor())
        flash(_("The breach is saved."))
        return redirect(url_for("avg_accountability.breach_edit", breach_id=breach.id))
    return render_template(
        "avg/accountability/breach_form.html",
        form=form,
        breach=breach,
        clock=breaches.clock(breach) if breach is not None else None,
    )


@require("avg.breaches.manage")
def breaches_csv() -> Any:
    text = breaches.export_csv(get_state())
    return Response(
        "\ufeff" + text,  # a BOM, so Excel reads the file as UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="breaches.csv"'},
    )


def register_routes(bp: Blueprint, state: AvgState) -> None:
    bp.add_url_rule("/breaches", endpoint="breaches_list", view_func=breaches_list, methods=["GET"])
    for rule in ("/breaches/<avg_id:breach_id>", "/breaches/new"):
        bp.add_url_rule(
            rule, endpoint="breach_edit", view_func=breach_edit, methods=["GET", "POST"]
        )
    bp.add_url_rule(
        "/breaches.csv", endpoint="breaches_csv", view_func=breaches_csv, methods=["GET"]
    )
