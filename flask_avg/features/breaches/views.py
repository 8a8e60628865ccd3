"""The breach register pages: list with the 72-hour clock, record/update form, exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import to_user_timezone, to_utc
from flask_wtf import FlaskForm
from sqlalchemy import select
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
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from flask_avg.core.audit import current_actor
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.types import utcnow
from flask_avg.extension import require
from flask_avg.features.breaches import service as breaches
from flask_avg.features.breaches.models import Breach

_DT = "%Y-%m-%dT%H:%M"

#: form field -> model attribute, for the plain text fields
_TEXT_FIELDS = (
    "title",
    "nature",
    "scope",
    "consequences",
    "expected_recovery",
    "measures_taken",
    "measures_planned",
    "ap_reference",
    "ap_not_required_reason",
    "people_not_required_reason",
)
_TIME_FIELDS = ("started_at", "discovered_at", "ended_at", "ap_notified_at", "people_notified_at")


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class BreachForm(FlaskForm):
    title = StringField(_l("Short description"), validators=[DataRequired(), Length(max=200)])
    started_at = DateTimeLocalField(_l("Started (if known)"), format=_DT, validators=[Optional()])
    discovered_at = DateTimeLocalField(_l("Discovered"), format=_DT, validators=[DataRequired()])
    ended_at = DateTimeLocalField(_l("Ended"), format=_DT, validators=[Optional()])
    nature = TextAreaField(_l("Nature of the breach (what happened)"))
    scope = TextAreaField(_l("Scope (which systems, files or records)"))
    consequences = TextAreaField(_l("Likely consequences for the people affected"))
    categories = MultiCheckbox(_l("Categories of personal data involved"))
    affected_models = MultiCheckbox(_l("Count the people affected from these records"))
    affected_from = DateField(_l("Records dated from"), validators=[Optional()])
    affected_to = DateField(_l("Records dated until"), validators=[Optional()])
    affected_count = IntegerField(
        _l("Approximate number of people affected (when not counted)"),
        validators=[Optional(), NumberRange(min=0)],
    )
    expected_recovery = TextAreaField(_l("Expected recovery"))
    measures_taken = TextAreaField(_l("Measures taken"))
    measures_planned = TextAreaField(_l("Measures planned"))
    ap_notified_at = DateTimeLocalField(
        _l("Authority (AP) notified at"), format=_DT, validators=[Optional()]
    )
    ap_reference = StringField(_l("AP reference number"), validators=[Length(max=100)])
    ap_not_required_reason = TextAreaField(
        _l("Not notified to the AP because (unlikely to result in a risk)")
    )
    people_notified_at = DateTimeLocalField(
        _l("People affected notified at"), format=_DT, validators=[Optional()]
    )
    people_not_required_reason = TextAreaField(_l("People not notified because"))
    closed = BooleanField(_l("Closed"))


def _to_utc(value: datetime | None) -> datetime | None:
    """A naive time typed in the user's time zone, as aware UTC."""
    return None if value is None else to_utc(value).replace(tzinfo=UTC)


def _to_local(value: datetime | None) -> datetime | None:
    return None if value is None else to_user_timezone(value).replace(tzinfo=None)


def register_routes(bp: Blueprint, state: Any) -> None:
    def fill_choices(form: BreachForm) -> None:
        cats = state.catalogue.categories
        form.categories.choices = [
            SelectChoice(key, str(cats[key].label)) for key in state.registry.categories
        ]
        form.affected_models.choices = [SelectChoice(m.name, str(m.label)) for m in state.registry]

    @bp.route("/breaches")
    @require("avg.breaches.manage")
    def breaches_list() -> Any:
        rows = state.db.session.scalars(
            select(Breach).order_by(Breach.discovered_at.desc(), Breach.id.desc())
        ).all()
        return render_template(
            "avg/accountability/breaches.html",
            rows=[(b, breaches.clock(b)) for b in rows],
        )

    @bp.route("/breaches/new", methods=["GET", "POST"])
    @bp.route("/breaches/<int:breach_id>", methods=["GET", "POST"])
    @require("avg.breaches.manage")
    def breach_edit(breach_id: int | None = None) -> Any:
        breach = state.db.session.get(Breach, breach_id) if breach_id is not None else None
        if breach_id is not None and breach is None:
            abort(404)
        if breach is None:
            form = BreachForm(data={"discovered_at": _to_local(utcnow())})
        else:
            data = {name: getattr(breach, name) for name in _TEXT_FIELDS}
            data.update({name: _to_local(getattr(breach, name)) for name in _TIME_FIELDS})
            filt = breach.affected_filter
            data.update(
                categories=breach.category_list,
                affected_models=filt.get("models", []),
                affected_from=_date(filt.get("from")),
                affected_to=_date(filt.get("to")),
                affected_count=None if breach.affected_computed else breach.affected_count,
                closed=breach.closed_at is not None,
            )
            form = BreachForm(data=data)
        fill_choices(form)
        if form.validate_on_submit():
            breach = breaches.save(
                state, breach, lambda b: _apply(state, form, b), actor=current_actor()
            )
            flash(_("The breach is saved."))
            return redirect(url_for("avg_accountability.breach_edit", breach_id=breach.id))
        return render_template(
            "avg/accountability/breach_form.html",
            form=form,
            breach=breach,
            clock=breaches.clock(breach) if breach is not None else None,
        )

    @bp.route("/breaches.csv")
    @require("avg.breaches.manage")
    def breaches_csv() -> Any:
        text = breaches.to_csv(state.db.session)
        state.audit.record("breach.export", detail={"format": "csv"})
        state.db.session.commit()
        return Response(
            "\ufeff" + text,  # a BOM, so Excel reads the file as UTF-8
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="breaches.csv"'},
        )


def _date(value: str | None) -> Any:
    from datetime import date

    return date.fromisoformat(value) if value else None


def _apply(state: Any, form: BreachForm, breach: Breach) -> list[str]:
    """Copy the form onto ``breach``; returns the names of the fields that changed."""
    changed: list[str] = []

    def put(name: str, value: Any) -> None:
        if getattr(breach, name) != value:
            setattr(breach, name, value)
            changed.append(name)

    for name in _TEXT_FIELDS:
        put(name, (form[name].data or "").strip())
    for name in _TIME_FIELDS:
        put(name, _to_utc(form[name].data))
    put("categories", ",".join(form.categories.data or []))
    models = list(form.affected_models.data or [])
    if models:
        start, end = form.affected_from.data, form.affected_to.data
        put("affected_count", breaches.count_affected(state, models, start, end))
        put("affected_computed", True)
        put(
            "affected_filter_json",
            json.dumps(
                {
                    "models": models,
                    "from": start.isoformat() if start else None,
                    "to": end.isoformat() if end else None,
                }
            ),
        )
    else:
        put("affected_count", form.affected_count.data)
        put("affected_computed", False)
        put("affected_filter_json", None)
    if form.closed.data and breach.closed_at is None:
        put("closed_at", utcnow())
    elif not form.closed.data and breach.closed_at is not None:
        put("closed_at", None)
    breach.updated_at = utcnow()
    breach.updated_by = current_actor()
    return changed
