"""Consent pages: a member gives or withdraws per purpose; the board manages purposes.

Routes are added to the accountability blueprint by :func:`register_routes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp

from flask_avg.core.audit import current_actor
from flask_avg.core.converters import MAX_DAYS
from flask_avg.core.forms import TEXT_LIMIT, AvgForm, whole_number
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.presenters import subject_or_404
from flask_avg.core.redirects import safe_target
from flask_avg.core.subjects import SubjectErased
from flask_avg.core.types import utcnow
from flask_avg.core.web import subject_erased_page
from flask_avg.extension import get_state, require
from flask_avg.features.consent import service as consent
from flask_avg.features.consent.models import ConsentPurposeRow

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: Endpoints the re-ask redirect leaves alone (else it would loop).
_NOT_REASKED = {
    "avg_core.static",
    "avg_core.set_language",
    "avg_accountability.consent_review",
    "avg_accountability.consent_choose",
}
_LATER_KEY = "avg_consent_later"


class ChoiceForm(AvgForm):
    choice = StringField(validators=[AnyOf(["give", "withdraw"])])
    next = StringField(validators=[Optional()])


class PurposeForm(AvgForm):
    key = StringField(
        _l("Short name"),
        validators=[DataRequired(), Length(max=64), Regexp(r"^[a-z0-9_-]+$")],
    )
    label = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    text = TextAreaField(
        _l("Text the %(subject)s agrees to"), validators=[DataRequired(), Length(max=TEXT_LIMIT)]
    )
    version = StringField(_l("Version"), validators=[DataRequired(), Length(max=40)])
    expires_days = IntegerField(
        _l("Expires after (days, empty = never)"),
        validators=[Optional(), whole_number(1, MAX_DAYS)],
    )
    active = BooleanField(_l("In use"), default=True)


class PaperForm(AvgForm):
    purpose = SelectField(_l("Purpose"), validators=[DataRequired()])
    choice = SelectField(
        _l("Answer"),
        choices=[
            SelectChoice("give", _l("Consent given")),
            SelectChoice("withdraw", _l("Consent withdrawn")),
        ],
    )


def _consent_globals() -> dict[str, Any]:
    state = get_state()
    return {"avg_consent_items": lambda: _items(state)}


def _reask() -> Any:
    """Send a member who agreed to an older text to the review page (once a session)."""
    endpoint = request.endpoint or ""
    if not endpoint.startswith("avg_") or endpoint in _NOT_REASKED:
        return None
    if request.method != "GET" or session.get(_LATER_KEY):
        return None
    if not current_user.is_authenticated:
        return None
    state = get_state()
    member = state.subject_for(current_user)
    if member is None or not consent.outdated_for(state, member):
        return None
    return redirect(url_for("avg_accountability.consent_review", next=request.full_path))


def _own_member(state: AvgState) -> Any:
    member = state.subject_for(current_user)
    if member is None:
        abort(404)
    return member


# -- the member ---------------------------------------------------------------------


@require("avg.self.view")
def consent_page() -> Any:
    if get_state().subject_for(current_user) is None:
        return render_template("avg/no_subject.html"), 404
    return render_template("avg/accountability/consent.html")


@require("avg.self.view")
def consent_choose(key: str) -> Any:
    state = get_state()
    member = _own_member(state)
    try:
        purpose = consent.get_purpose(state, key)
    except KeyError:
        abort(404)
    form = ChoiceForm()
    if not form.validate_on_submit():
        abort(400)
    given = form.choice.data == "give"
    try:
        consent.answer(state, member, key, given=given, method="self_service")
    except SubjectErased:
        return subject_erased_page(state, own=True)
    if given:
        flash(_("Thank you: your consent for “%(label)s” is recorded.", label=purpose.label))
    else:
        flash(_("Your consent for “%(label)s” is withdrawn.", label=purpose.label))
    return redirect(safe_target(form.next.data) or url_for("avg_accountability.consent_page"))


@require("avg.self.view")
def consent_review() -> Any:
    state = get_state()
    member = _own_member(state)
    target = safe_target(request.values.get("next")) or url_for("avg_core.index")
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


# -- the board ----------------------------------------------------------------------


@require("avg.consent.manage")
def consent_purposes() -> Any:
    state = get_state()
    return render_template(
        "avg/accountability/consent_purposes.html",
        counts=consent.counts(state),
        inactive=consent.inactive_purposes(state),
        methods=consent.METHODS,
    )


@require("avg.consent.manage")
def consent_purpose_edit(key: str | None = None) -> Any:
    state = get_state()
    row = state.db.session.get(ConsentPurposeRow, key) if key else None
    if key is not None and row is None:
        abort(404)  # purposes declared in code are changed in code
    form = PurposeForm(obj=row)
    if row is not None:
        form.key.render_kw = {"readonly": True}
    if form.validate_on_submit():
        values = consent.PurposeInput(
            label=form.label.data or "",
            text=form.text.data or "",
            version=form.version.data or "",
            expires_days=form.expires_days.data,
            active=bool(form.active.data),
        )
        try:
            consent.save_purpose(
                state,
                row.key if row is not None else form.key.data or "",
                values,
                row=row,
                actor=current_actor(),
            )
        except consent.PurposeExists:
            form.key.errors = [_("A purpose with this short name already exists.")]
        else:
            flash(_("The purpose is saved."))
            return redirect(url_for("avg_accountability.consent_purposes"))
    return render_template("avg/accountability/consent_purpose_form.html", form=form, row=row)


@require("avg.consent.manage")
def consent_member_lookup() -> Any:
    subject_id = request.args.get("subject_id", "").strip()
    if not subject_id:
        return redirect(url_for("avg_accountability.consent_purposes"))
    return redirect(url_for("avg_accountability.consent_member", subject_id=subject_id))


@require("avg.consent.manage")
def consent_member(subject_id: str) -> Any:
    state = get_state()
    member = subject_or_404(state, subject_id)
    known = consent.purposes(state)
    form = PaperForm()
    form.purpose.choices = [SelectChoice(k, str(p.label)) for k, p in known.items()]
    if form.validate_on_submit():
        try:
            consent.answer(
                state,
                member,
                form.purpose.data or "",
                given=form.choice.data == "give",
                method="paper",
                recorded_by=current_actor(),
            )
        except SubjectErased:
            return subject_erased_page(state, own=False)
        flash(_("The answer from the paper form is recorded."))
        return redirect(url_for("avg_accountability.consent_member", subject_id=subject_id))
    history = consent.history(state, member)
    return render_template(
        "avg/accountability/consent_member.html",
        subject_id=subject_id,
        history=history,
        states=consent.states_for(state, member),
        purposes=known,
        methods=consent.METHODS,
        form=form,
    )


def register_routes(bp: Blueprint, state: AvgState) -> None:
    bp.app_context_processor(_consent_globals)
    bp.before_app_request(_reask)
    bp.add_url_rule("/consent", endpoint="consent_page", view_func=consent_page, methods=["GET"])
    bp.add_url_rule(
        "/consent/<key>", endpoint="consent_choose", view_func=consent_choose, methods=["POST"]
    )
    bp.add_url_rule(
        "/consent/review",
        endpoint="consent_review",
        view_func=consent_review,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/consent/purposes",
        endpoint="consent_purposes",
        view_func=consent_purposes,
        methods=["GET"],
    )
    for rule in ("/consent/purposes/new", "/consent/purposes/<key>/edit"):
        bp.add_url_rule(
            rule,
            endpoint="consent_purpose_edit",
            view_func=consent_purpose_edit,
            methods=["GET", "POST"],
        )
    bp.add_url_rule(
        "/consent/members",
        endpoint="consent_member_lookup",
        view_func=consent_member_lookup,
        methods=["GET"],
    )
    bp.add_url_rule(
        "/consent/members/<subject_id>",
        endpoint="consent_member",
        view_func=consent_member,
        methods=["GET", "POST"],
    )


def _items(state: AvgState) -> list[dict[str, Any]]:
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
    for key, purpose in consent.purposes(state, declared=True).items():
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
