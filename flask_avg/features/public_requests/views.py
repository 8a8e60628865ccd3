"""The public request page, its verification and download links, and the board's list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from wtforms import EmailField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from flask_avg.core.forms import EMAIL_RE, AvgForm, choice
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jinja import NavItem
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state, preferred_locale, require
from flask_avg.features.public_requests import service
from flask_avg.features.public_requests.models import PublicRequest

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class PublicRequestForm(AvgForm):
    email = EmailField(_l("Your e-mail address"), validators=[DataRequired(), Length(max=254)])
    kind = SelectField(_l("What do you ask?"), choices=[], validators=[DataRequired()])
    purpose = SelectField(_l("Purpose"), choices=[], validate_choice=False)
    field = SelectField(_l("Field"), choices=[], validate_choice=False)
    message = TextAreaField(
        _l("Explanation (optional)"),
        validators=[Optional(), Length(max=service.MESSAGE_LIMIT)],
    )

    def validate_email(self, field: Any) -> None:
        if not EMAIL_RE.match(field.data or ""):
            raise ValidationError(_l("Enter a valid e-mail address, like name@example.org."))


class PlainForm(AvgForm):
    pass


class ProofForm(AvgForm):
    note = TextAreaField(
        _l("What proof do you need?"), validators=[DataRequired(), Length(max=1000)]
    )


def _form(state: AvgState) -> PublicRequestForm:
    from flask_avg.features.requests import service as reqs

    form = PublicRequestForm()
    form.kind.choices = [choice(k, label) for k, label in service.KINDS.items()]
    purposes = reqs.objection_purposes(state)
    form.purpose.choices = [choice("", "—")] + [
        choice(k, reqs.host_text(v)) for k, v in purposes.items()
    ]
    model = state.registry.subject
    form.field.choices = [choice("", "—")] + [
        choice(f"{model.name}.{name}", reqs.host_text(spec.label or name))
        for name, spec in model.exported_columns(special=False).items()
    ]
    return form


def public_request() -> Any:
    """Anyone: the form. The answer is the same page whether or not the address is known."""
    state = get_state()
    form = _form(state)
    if form.validate_on_submit():
        valid_purposes = {c.value if hasattr(c, "value") else c[0] for c in form.purpose.choices}
        valid_fields = {c.value if hasattr(c, "value") else c[0] for c in form.field.choices}
        purpose = form.purpose.data if form.purpose.data in valid_purposes else None
        field = form.field.data if form.field.data in valid_fields else None
        done = service.submit(
            state,
            form.email.data or "",
            form.kind.data or "",
            language=preferred_locale(),
            purpose=purpose or None,
            field=field or None,
            message=form.message.data,
        )
        if not done.accepted:
            return render_template("avg/public/request.html", form=form, throttled=True), 429
        return redirect(url_for("avg_public.sent"))
    status = 400 if request.method == "POST" else 200
    return render_template("avg/public/request.html", form=form, throttled=False), status


def sent() -> Any:
    return render_template("avg/public/sent.html")


def verify(token: str) -> Any:
    """The verification link: a page with a button (a GET changes nothing); the POST
    confirms, once."""
    state = get_state()
    form = PlainForm()
    try:
        row = service.pending(state, token)
    except service.LinkInvalid as exc:
        return render_template("avg/public/link.html", error=str(exc)), 410
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            service.verify(state, token)
        except service.LinkInvalid as exc:
            state.db.session.rollback()
            return render_template("avg/public/link.html", error=str(exc)), 410
        return render_template("avg/public/link.html", error=None, confirmed=True, kind=row.kind)
    return render_template(
        "avg/public/verify.html", form=form, kind=service.KINDS.get(row.kind, row.kind)
    )


def download(token: str) -> Any:
    """The access export, once, for as long as the link is valid."""
    state = get_state()
    form = PlainForm()
    try:
        service.downloadable(state, token)
    except service.LinkInvalid as exc:
        return render_template("avg/public/link.html", error=str(exc)), 410
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            data = service.take_download(state, token)
        except service.LinkInvalid as exc:
            return render_template("avg/public/link.html", error=str(exc)), 410
        from flask import Response

        return Response(
            data,
            mimetype="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="my-data.json"',
                "Cache-Control": "no-store",
            },
        )
    return render_template("avg/public/download.html", form=form)


@require("avg.requests.handle")
def board() -> Any:
    state = get_state()
    return render_template(
        "avg/public/board.html",
        rows=service.board_list(state),
        kinds=service.KINDS,
        form=ProofForm(formdata=None),
    )


@require("avg.requests.handle")
def more_proof(request_id: int) -> Any:
    state = get_state()
    form = ProofForm()
    if not form.validate_on_submit():
        abort(400)
    row = state.db.session.get(PublicRequest, request_id)
    if row is None:
        abort(404)
    if service.ask_more_proof(state, row, note=form.note.data or ""):
        flash(_("The requester is asked for more proof."))
    else:
        flash(_("This requester can no longer be reached."), "error")
    return redirect(url_for("avg_public.board"))


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("public", __name__)
    state.nav.append(
        NavItem("avg_public.board", _l("Requests without an account"), "avg.requests.handle")
    )
    bp.add_url_rule(
        "/ask", endpoint="public_request", view_func=public_request, methods=["GET", "POST"]
    )
    bp.add_url_rule("/ask/sent", endpoint="sent", view_func=sent, methods=["GET"])
    bp.add_url_rule(
        "/ask/verify/<token>", endpoint="verify", view_func=verify, methods=["GET", "POST"]
    )
    bp.add_url_rule(
        "/ask/download/<token>", endpoint="download", view_func=download, methods=["GET", "POST"]
    )
    bp.add_url_rule("/public-requests", endpoint="board", view_func=board, methods=["GET"])
    bp.add_url_rule(
        "/public-requests/<avg_id:request_id>/proof",
        endpoint="more_proof",
        view_func=more_proof,
        methods=["POST"],
    )
    return bp
