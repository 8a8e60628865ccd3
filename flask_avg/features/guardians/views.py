"""Guardian pages: the switcher ("me" or a child), accepting an invitation, and the
board's invite and unlink page for a member."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length, Optional

from flask_avg.core.audit import current_actor
from flask_avg.core.forms import EMAIL_RE, AvgForm
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.identity import actor_labels
from flask_avg.core.presenters import subject_or_404
from flask_avg.core.redirects import safe_redirect
from flask_avg.core.subjects import SubjectErased, acting_for
from flask_avg.core.web import make_blueprint, subject_erased_page
from flask_avg.extension import get_state, require
from flask_avg.features.guardians import STATUS_LABELS, service
from flask_avg.features.guardians.models import ENDED, GuardianLink

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class SwitchForm(AvgForm):
    subject = StringField(validators=[Optional(), Length(max=64)])
    next = StringField(validators=[Optional(), Length(max=2000)])


class InviteForm(AvgForm):
    email = EmailField(
        _l("E-mail address of the parent or guardian"),
        validators=[DataRequired(), Length(max=254)],
    )

    def validate_email(self, field: Any) -> None:
        from wtforms.validators import ValidationError

        if not EMAIL_RE.match(field.data or ""):
            raise ValidationError(_l("Enter a valid e-mail address, like name@example.org."))


class PlainForm(AvgForm):
    pass


def _panel(state: AvgState) -> dict[str, Any]:
    """What the switcher include shows: the children to switch to, who is acting for
    whom, the age-of-consent note and what guardians did for the member."""
    empty: dict[str, Any] = {"children": [], "acting": None}
    if not current_user.is_authenticated:
        return empty
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    subject = state.subject_for(user)
    acting = acting_for()
    own = state.own_subject_for(user)
    children = service.children_of(state, user)
    minor = own is not None and acting is None and service.is_minor(state, own)
    acted = service.acted_for(state, own, limit=20) if own is not None and acting is None else []
    return {
        "children": children,
        "acting": acting,
        "acting_name": service.display_name(state, subject) if acting else None,
        "minor": minor,
        "age": service.config_value("AGE_OF_CONSENT"),
        "acted": acted,
        "actors": actor_labels(state, [e.actor or "" for e in acted]),
        "form": SwitchForm(formdata=None),
        "url": url_for("avg_guardians.switch"),
    }


def switch() -> Any:
    """Act for a child, or for oneself again: only for the child's own guardians."""
    state = get_state()
    if not current_user.is_authenticated:
        return state.deny("avg.guardians.act")
    form = SwitchForm()
    if not form.validate_on_submit():
        abort(400)
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    try:
        child = service.choose(state, user, form.subject.data or None)
    except LookupError:
        return state.deny("avg.guardians.act")
    if child is None:
        flash(_("You are working on your own data again."))
    else:
        flash(
            _(
                "You are now acting for %(name)s as their guardian.",
                name=service.display_name(state, child),
            )
        )
    return safe_redirect(form.next.data, "avg_self.me")


def accept(token: str) -> Any:
    """The invited guardian, logged in, confirms; the link works once."""
    state = get_state()
    if not current_user.is_authenticated:
        return state.deny("avg.guardians.accept")
    form = PlainForm()
    try:
        link = service.invitation(state, token)
    except service.InvitationInvalid as exc:
        return render_template("avg/guardians/accept.html", error=str(exc), form=None), 410
    child = service.load_subject(state, link.subject)
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        user = current_user._get_current_object()  # type: ignore[attr-defined]
        try:
            service.accept(state, token, user)
        except service.InvitationInvalid as exc:
            state.db.session.rollback()
            return render_template("avg/guardians/accept.html", error=str(exc), form=None), 403
        except SubjectErased:
            return subject_erased_page(state, own=False)
        flash(_("You are now a guardian of %(name)s.", name=service.display_name(state, child)))
        return redirect(url_for("avg_self.me"))
    return render_template(
        "avg/guardians/accept.html",
        error=None,
        form=form,
        child=service.display_name(state, child),
    )


@require("avg.members.edit")
def member_guardians(subject_id: str) -> Any:
    """The board: a member's guardians, an invitation by e-mail, unlinking."""
    state = get_state()
    subject = subject_or_404(state, subject_id)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            service.invite(state, subject, form.email.data or "", actor=current_actor())
        except SubjectErased:
            return subject_erased_page(state, own=False)
        flash(
            _(
                "The invitation is sent. The link works once, for %(hours)s hours.",
                hours=service.config_value("GUARDIAN_INVITE_HOURS"),
            )
        )
        return redirect(url_for("avg_guardians.member_guardians", subject_id=subject_id))
    links = service.links_of(state, subject, ended=True)
    return render_template(
        "avg/guardians/member.html",
        subject_id=subject_id,
        name=service.display_name(state, subject),
        age=service.age_of(state, subject),
        minor=service.is_minor(state, subject),
        links=links,
        labels=actor_labels(state, [link.guardian for link in links]),
        statuses=STATUS_LABELS,
        form=form,
        unlink_form=PlainForm(formdata=None),
        acted=service.acted_for(state, subject),
    )


@require("avg.members.edit")
def unlink(link_id: int) -> Any:
    state = get_state()
    form = PlainForm()
    if not form.validate_on_submit():
        abort(400)
    link = state.db.session.scalar(select(GuardianLink).where(GuardianLink.id == link_id))
    if link is None:
        abort(404)
    if link.status != ENDED:
        service.unlink(state, link)
        flash(_("The guardian link has ended."))
    return redirect(url_for("avg_guardians.member_guardians", subject_id=link.subject))


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("guardians", __name__)
    bp.app_context_processor(lambda: {"avg_guardian_panel": lambda: _panel(state)})
    bp.add_url_rule("/guardians/act", endpoint="switch", view_func=switch, methods=["POST"])
    bp.add_url_rule(
        "/guardians/accept/<token>", endpoint="accept", view_func=accept, methods=["GET", "POST"]
    )
    bp.add_url_rule(
        "/guardians/members/<subject_id>",
        endpoint="member_guardians",
        view_func=member_guardians,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/guardians/links/<avg_id:link_id>/unlink",
        endpoint="unlink",
        view_func=unlink,
        methods=["POST"],
    )
    return bp
