"""Consent pages: a member gives or withdraws per purpose; the board manages purposes.

Routes are added to the accountability blueprint by :func:`register_routes`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional, Regexp

from flask_avg.core.audit import current_actor
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.subjects import SubjectErased
from flask_avg.core.types import utcnow
from flask_avg.core.web import subject_erased_page
from flask_avg.extension import require
from flask_avg.features.consent import service as consent
from flask_avg.features.consent.models import ConsentPurposeRow, ConsentRecord

#: Endpoints the re-ask redirect leaves alone (else it would loop).
_NOT_REASKED = {
    "avg_core.static",
    "avg_core.set_language",
    "avg_accountability.consent_review",
    "avg_accountability.consent_choose",
}
_LATER_KEY = "avg_consent_later"


class ChoiceForm(FlaskForm):
    choice = StringField(validators=[AnyOf(["give", "withdraw"])])
    next = StringField(validators=[Optional()])


class PurposeForm(FlaskForm):
    key = StringField(
        _l("Short name"),
        validators=[DataRequired(), Length(max=64), Regexp(r"^[a-z0-9_-]+$")],
    )
    label = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    text = TextAreaField(_l("Text the member agrees to"), validators=[DataRequired()])
    version = StringField(_l("Version"), validators=[DataRequired(), Length(max=40)])
    expires_days = IntegerField(
        _l("Expires after (days, empty = never)"), validators=[Optional(), NumberRange(min=1)]
    )
    active = BooleanField(_l("In use"), default=True)


class PaperForm(FlaskForm):
    purpose = SelectField(_l("Purpose"), validators=[DataRequired()])
    choice = SelectField(
        _l("Answer"),
        choices=[
            SelectChoice("give", _l("Consent given")),
            SelectChoice("withdraw", _l("Consent withdrawn")),
        ],
    )


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def register_routes(bp: Blueprint, state: Any) -> None:
    @bp.app_context_processor
    def _consent_globals() -> dict[str, Any]:
        return {"avg_consent_items": lambda: _items(state)}

    @bp.before_app_request
    def _reask() -> Any:
        endpoint = request.endpoint or ""
        if not endpoint.startswith("avg_") or endpoint in _NOT_REASKED:
            return None
        if request.method != "GET" or session.get(_LATER_KEY):
            return None
        if not current_user.is_authenticated:
            return None
        member = state.subject_for(current_user)
        if member is None or not consent.outdated_for(state, member):
            return None
        return redirect(url_for("avg_accountability.consent_review", next=request.full_path))

    @bp.route("/consent")
    @require("avg.self.view")
    def consent_page() -> Any:
        if state.subject_for(current_user) is None:
            return render_template("avg/no_subject.html"), 404
        return render_template("avg/accountability/consent.html")

    @bp.route("/consent/<key>", methods=["POST"])
    @require("avg.self.view")
    def consent_choose(key: str) -> Any:
        member = state.subject_for(current_user)
        if member is None:
            abort(404)
        try:
            purpose = consent.get_purpose(state, key)
        except KeyError:
            abort(404)
        form = ChoiceForm()
        if not form.validate_on_submit():
            abort(400)
        given = form.choice.data == "give"
        try:
            consent.record(state, member, key, given=given, method="self_service")
        except SubjectErased:
            return subject_erased_page(state, own=True)
        state.db.session.commit()
        if given:
            flash(_("Thank you: your consent for “%(label)s” is recorded.", label=purpose.label))
        else:
            flash(_("Your consent for “%(label)s” is withdrawn.", label=purpose.label))
        return redirect(_safe_next(form.next.data) or url_for("avg_accountability.consent_page"))

    @bp.route("/consent/review", methods=["GET", "POST"])
    @require("avg.self.view")
    def consent_review() -> Any:
        member = state.subject_for(current_user)
        if member is None:
            abort(404)
        target = _safe_next(request.values.get("next")) or url_for("avg_core.index")
        form = ChoiceForm()
        if request.method == "POST" and form.validate_on_submit():
            # "Ask me later": not again during this session.
            session[_LATER_KEY] = True
            return redirect(target)
        changed = consent.outdated_for(state, member)
        if not changed:
            return redirect(target)
        return render_template(
            "avg/accountability/consent_review.html",
            changed=changed,
            form=form,
            target=target,
        )

    # -- the board -------------------------------------------------------------
    @bp.route("/consent/purposes")
    @require("avg.consent.manage")
    def consent_purposes() -> Any:
        rows = {
            row.key: row
            for row in state.db.session.scalars(
                select(ConsentPurposeRow).order_by(ConsentPurposeRow.key)
            )
        }
        return render_template(
            "avg/accountability/consent_purposes.html",
            counts=consent.counts(state),
            inactive=[row for row in rows.values() if not row.active],
            methods=consent.METHODS,
        )

    @bp.route("/consent/purposes/new", methods=["GET", "POST"])
    @bp.route("/consent/purposes/<key>/edit", methods=["GET", "POST"])
    @require("avg.consent.manage")
    def consent_purpose_edit(key: str | None = None) -> Any:
        row = state.db.session.get(ConsentPurposeRow, key) if key else None
        if key is not None and row is None:
            abort(404)  # purposes declared in code are changed in code
        form = PurposeForm(obj=row)
        if row is not None:
            form.key.render_kw = {"readonly": True}
        if form.validate_on_submit():
            new_key = row.key if row is not None else form.key.data
            if row is None and new_key in consent.purposes(state, inactive=True):
                form.key.errors = [_("A purpose with this short name already exists.")]
            else:
                if row is None:
                    row = ConsentPurposeRow(key=new_key)
                    state.db.session.add(row)
                changed = row.text != form.text.data
                row.label = form.label.data
                row.text = form.text.data
                row.version = form.version.data
                row.expires_days = form.expires_days.data
                row.active = bool(form.active.data)
                row.updated_by = current_actor()
                state.audit.record(
                    "consent.purpose.save",
                    detail={"purpose": new_key, "version": row.version, "text_changed": changed},
                )
                state.db.session.commit()
                flash(_("The purpose is saved."))
                return redirect(url_for("avg_accountability.consent_purposes"))
        return render_template("avg/accountability/consent_purpose_form.html", form=form, row=row)

    @bp.route("/consent/members")
    @require("avg.consent.manage")
    def consent_member_lookup() -> Any:
        subject_id = request.args.get("subject_id", "").strip()
        if not subject_id:
            return redirect(url_for("avg_accountability.consent_purposes"))
        return redirect(url_for("avg_accountability.consent_member", subject_id=subject_id))

    @bp.route("/consent/members/<subject_id>", methods=["GET", "POST"])
    @require("avg.consent.manage")
    def consent_member(subject_id: str) -> Any:
        subject_model = state.registry.subject
        try:
            typed = subject_model.primary_key[0].type.python_type(subject_id)
        except (TypeError, ValueError):
            abort(404)
        member = state.db.session.get(subject_model.cls, typed)
        if member is None:
            abort(404)
        known = consent.purposes(state)
        form = PaperForm()
        form.purpose.choices = [SelectChoice(k, str(p.label)) for k, p in known.items()]
        if form.validate_on_submit():
            try:
                consent.record(
                    state,
                    member,
                    form.purpose.data,
                    given=form.choice.data == "give",
                    method="paper",
                    recorded_by=current_actor(),
                )
            except SubjectErased:
                return subject_erased_page(state, own=False)
            state.db.session.commit()
            flash(_("The answer from the paper form is recorded."))
            return redirect(url_for("avg_accountability.consent_member", subject_id=subject_id))
        key = consent.subject_key(state, member)
        history = state.db.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.subject == key)
            .order_by(ConsentRecord.at.desc(), ConsentRecord.id.desc())
        ).all()
        state.audit.record("consent.view", subject=key)
        state.db.session.commit()
        return render_template(
            "avg/accountability/consent_member.html",
            subject_id=subject_id,
            history=history,
            states=consent.states_for(state, member),
            purposes=known,
            methods=consent.METHODS,
            form=form,
        )


def _items(state: Any) -> list[dict[str, Any]]:
    """What the member's consent section shows: each purpose, the answer and a form."""
    if not current_user.is_authenticated or not state.can("avg.self.view"):
        return []
    member = state.subject_for(current_user)
    if member is None:
        return []
    states = consent.states_for(state, member)
    now = utcnow()
    form = ChoiceForm(formdata=None)
    items = []
    for key, purpose in consent.purposes(state).items():
        row = states.get(key)
        items.append(
            {
                "purpose": purpose,
                "state": row,
                "given": consent.is_valid(row, now),
                "outdated": bool(row and row.given and row.text_hash != purpose.text_hash),
                "url": url_for("avg_accountability.consent_choose", key=key),
                "form": form,
            }
        )
    return items
