"""Member self-service: see, correct and take one's own data, and file privacy requests.

Members: ``/me`` (all data, grouped by category), ``/me/edit`` (correct the
fields the board allows), ``/me/requests`` (erasure, restriction, objection,
correction of a locked field). Board: ``/requests`` (the queue, guarded by
``avg.requests.handle``) and ``/fields`` (which fields members may edit,
guarded by ``avg.fields.manage``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_login import current_user
from sqlalchemy import func, select

from flask_avg.core.audit import current_actor
from flask_avg.core.config import config_value
from flask_avg.core.dashboard import DashboardPanel
from flask_avg.core.forms import FieldRightsForm, StatusForm, choice
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jinja import NavItem
from flask_avg.core.plugins import ErasureRefused
from flask_avg.core.presenters import column_label, subject_or_404
from flask_avg.core.subjects import SubjectErased
from flask_avg.core.types import utcnow
from flask_avg.core.web import ERASED, make_blueprint, subject_erased_page
from flask_avg.extension import get_state, require
from flask_avg.features.members import service as members_service
from flask_avg.features.requests import forms as req_forms
from flask_avg.features.requests import service as reqs
from flask_avg.features.retention.erase import PURGE_RUNNING
from flask_avg.features.retention.lock import PurgeLocked
from flask_avg.features.self_service import field_policy, forms, service

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def _requests_panel(state: AvgState) -> dict[str, Any]:
    return {"counts": reqs.counts(state)}


def _own_subject(state: AvgState) -> Any:
    """The signed-in member's subject row; 404 when the login is not a member."""
    subject = state.subject_for(current_user)
    if subject is None:
        abort(404)
    return subject


def _forged(
    state: AvgState, model: Any, subject_id: Any, columns: list[str], restricted: bool
) -> Any:
    """Refuse a post that tries more than the form offers; audit it and change nothing."""
    allowed = {"csrf_token", "subject"} | {f"f_{c}" for c in columns}
    extra = sorted(k for k in request.form if k not in allowed)
    other = request.form.get("subject", str(subject_id)) != str(subject_id)
    reason = None
    if restricted:
        reason = "restricted"
    elif other:
        reason = "other_subject"
    elif extra:
        anchor = model.policy.anchor
        names = [k.removeprefix("f_") for k in extra]
        reason = "anchor" if anchor in names else "locked_field"
    if reason is None:
        return None
    names = [k.removeprefix("f_")[:60] for k in extra][:20]
    state.audit.denied("self.edit", subject=subject_id, detail={"reason": reason, "fields": names})
    state.db.session.rollback()
    if restricted:
        return render_template("avg/me_edit.html", form=None, restricted=True, columns=columns), 403
    return render_template("avg/denied.html", action="avg.self.edit"), 403


def _request_error(
    state: AvgState, form: Any, subject_id: Any, purposes: Any, locked: list[str]
) -> str | None:
    """Why the member's request form cannot be filed, or ``None``."""
    kind = form.kind.data or ""
    if kind == reqs.OBJECTION and form.purpose.data not in purposes:
        return _("Choose the purpose you object to.")
    if kind == reqs.CORRECTION and form.field.data not in locked:
        return _("Choose the field that should be corrected.")
    if kind == reqs.CORRECTION and not (form.value.data or form.message.data):
        return _("Tell us what the correct value is.")
    if kind == reqs.CORRECTION:
        try:
            reqs.correction_value(
                state, field_policy.request_field(state, form.field.data), _requested(form)
            )
        except reqs.InvalidValue as exc:
            return _("The value you ask for does not fit this field: %(why)s", why=exc)
    if kind == reqs.ERASURE and not reqs.check_password(
        state,
        current_user._get_current_object(),  # type: ignore[attr-defined]
        form.password.data or "",
    ):
        state.audit.denied("self.request", subject=subject_id, detail={"reason": "password"})
        return _("That password is not correct.")
    return None


def _requested(form: Any) -> str:
    """The value a correction asks for: the value field (older forms: the message)."""
    return str(form.value.data or form.message.data or "")


def _get_request(state: AvgState, request_id: int) -> reqs.DataRequest:
    req = state.db.session.get(reqs.DataRequest, request_id)
    if req is None:
        abort(404)
    return req


# -- the member: see my data --------------------------------------------------------


@require("avg.self.view")
def me() -> Any:
    state = get_state()
    subject = state.subject_for(current_user)
    if subject is None:
        return render_template("avg/no_subject.html"), 404
    # the page shows what the audit entry says was seen: what was read before its commit,
    # not read again after it (the member, their account and consents: four statements)
    session = state.db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        data = service.view_own_data(state, subject)
    finally:
        session.expire_on_commit = expire
    return render_template(
        "avg/me.html",
        data=data,
        editable=field_policy.editable_columns(state),
        restricted=reqs.is_restricted(state, data.subject_id),
        objections=reqs.objections(state, data.subject_id),
        my_requests=reqs.requests_of(state, data.subject_id),
    )


# -- correct my data ----------------------------------------------------------------


def _edit_targets(
    state: AvgState, subject: Any
) -> tuple[list[str], dict[Any, Any], list[tuple[Any, Any]]]:
    """The editable keys the form offers, the member's rows they come from, and the
    profiles that are missing and cannot be created here (model, label)."""
    keys = field_policy.editable_columns(state)
    by_model: dict[Any, list[str]] = {}
    for key in keys:
        model, column = field_policy.split_key(state, key)
        by_model.setdefault(model, []).append(column)
    rows: dict[Any, Any] = {}
    missing: list[tuple[Any, Any]] = []
    for model, columns in by_model.items():
        row = service.own_row(state, model, subject)
        if row is None and not service.can_create(state, model, subject, columns):
            missing.append((model, model.label))
            keys = [k for k in keys if k not in {field_policy.field_key(model, c) for c in columns}]
        rows[model] = row
    return keys, rows, missing


def _groups(state: AvgState, form: Any, keys: list[str]) -> list[tuple[Any, list[Any]]]:
    """The form's fields per model: the subject's first (no heading), then each profile's."""
    groups: dict[Any, list[Any]] = {}
    for key in keys:
        model, _column = field_policy.split_key(state, key)
        groups.setdefault(model, []).append(form[f"f_{key}"])
    return [(None if m.is_subject else m.label, fields) for m, fields in groups.items()]


@require("avg.self.edit")
def edit() -> Any:
    state = get_state()
    # who is editing, known before anything commits: an erasure may delete the
    # login account under this request, and the user would no longer load after it
    actor = current_actor()
    subject = _own_subject(state)
    model = state.registry.subject
    subject_id = service.subject_id(state, subject)
    columns, rows, missing = _edit_targets(state, subject)
    restricted = reqs.is_restricted(state, subject_id)
    if request.method == "POST":
        denied = _forged(state, model, subject_id, columns, restricted)
        if denied is not None:
            return denied
    new = {m for m, row in rows.items() if row is None}
    form = forms.correction_form(state, columns, rows if request.method == "GET" else None, new)
    if restricted:
        return render_template("avg/me_edit.html", form=None, restricted=True, columns=columns)
    if form.validate_on_submit() and not forms.missing_required(state, form, new):
        try:
            changed = service.correct(state, subject, forms.form_values(form), actor=actor)
        except SubjectErased:
            return subject_erased_page(state, own=True)
        except service.ProfileMissing:
            flash(_("This part of your data cannot be created here; ask for it instead."), "error")
            return redirect(url_for("avg_self.edit"))
        except service.ValueInUse as exc:
            if exc.column is None:
                flash(_("This value is already in use."), "error")
                return redirect(url_for("avg_self.edit"))
            form[f"f_{exc.column}"].errors = [_("This value is already in use.")]  # type: ignore[index]
        else:
            if not changed:
                flash(_("Nothing changed."), "info")
            else:
                flash(_("Your changes have been saved."), "success")
            return redirect(url_for("avg_self.me"))
    elif request.method == "POST" and "csrf_token" in form.errors:
        state.audit.denied("self.edit", subject=subject_id, detail={"reason": "csrf"})
    locked = []
    for key in field_policy.locked_columns(state):
        owner, column = field_policy.split_key(state, key)
        if not owner.columns[column].special:
            locked.append((key, field_policy.field_label(owner, column)))
    return render_template(
        "avg/me_edit.html",
        form=form,
        restricted=False,
        columns=columns,
        groups=_groups(state, form, columns),
        missing=[label for _m, label in missing],
        locked=locked,
        subject_key=subject_id,
    ), (400 if request.method == "POST" else 200)


# -- the member: requests -----------------------------------------------------------


@require("avg.self.request")
def my_requests() -> Any:
    state = get_state()
    subject = _own_subject(state)
    subject_id = service.subject_id(state, subject)
    form = req_forms.MemberRequestForm()
    purposes = reqs.objection_purposes(state)
    locked = field_policy.locked_columns(state)
    labels = [(k, field_policy.field_label(*field_policy.split_key(state, k))) for k in locked]
    form.purpose.choices = [choice(key) for key in purposes]
    form.field.choices = [choice(k, label) for k, label in labels]
    status = 200
    if form.validate_on_submit():
        kind = form.kind.data or ""
        if kind not in reqs.KINDS:
            abort(400)
        purpose = form.purpose.data if kind == reqs.OBJECTION else None
        field = form.field.data if kind == reqs.CORRECTION else None
        error = _request_error(state, form, subject_id, purposes, locked)
        if error is None:
            try:
                reqs.file_request(
                    state,
                    subject_id,
                    kind,
                    user_id=current_actor(),
                    purpose=purpose,
                    field=field_policy.request_field(state, field) if field else None,
                    message=form.message.data,
                    new_value=_requested(form) if field else None,
                    identity_check="account",
                )
            except reqs.RequestError:
                error = (
                    _("You already asked to correct this field; that request is still open.")
                    if field
                    else _("You already have an open request of this kind.")
                )
            except SubjectErased:
                return subject_erased_page(state, own=True)
            else:
                flash(
                    _(
                        "Your request has been received. We will answer before %(date)s.",
                        date=format_date(reqs.deadline_for(utcnow()), "long"),
                    ),
                    "success",
                )
                return redirect(url_for("avg_self.my_requests"))
        flash(error, "error")
        status = 400
    elif request.method == "POST":
        status = 400
        flash(_("The form could not be sent; please try again."), "error")
    mine = reqs.requests_of(state, subject_id)
    open_kinds = {r.kind for r in mine if r.is_open and r.kind != reqs.CORRECTION}
    open_fields = {r.field for r in mine if r.is_open and r.kind == reqs.CORRECTION}
    labels = [
        (k, lab) for k, lab in labels if field_policy.request_field(state, k) not in open_fields
    ]
    return render_template(
        "avg/me_requests.html",
        consent_based=reqs.consent_based_purposes(state),
        field_label=reqs.field_label_of,
        form=form,
        requests=mine,
        open_kinds=open_kinds,
        kinds=reqs.KINDS,
        purposes=purposes,
        locked=labels,
        restricted=reqs.is_restricted(state, subject_id),
        objections=reqs.objections(state, subject_id),
        now=utcnow(),
    ), status


# -- the board: request queue -------------------------------------------------------


@require("avg.requests.handle")
def request_queue() -> Any:
    state = get_state()
    show = "all" if request.args.get("show") == "all" else "open"
    items = reqs.queue(state, show=show)
    return render_template(
        "avg/requests_queue.html",
        items=items,
        show=show,
        now=utcnow(),
        counts=reqs.counts(state),
    )


def _correction(state: AvgState, req: reqs.DataRequest) -> dict[str, Any] | None:
    """A correction request as the board sees it: the current value and the value
    asked for (``error`` when it does not fit the field)."""
    if req.kind != reqs.CORRECTION or not req.field:
        return None
    info: dict[str, Any] = {
        "current": None,
        "known": False,
        "requested": req.new_value,
        "error": None,
        "hidden": False,
    }
    try:
        model, column = field_policy.split_key(state, req.field)
    except KeyError:
        info["error"] = _("This field is no longer one %(the_subject)s may edit.")
        return info
    if model.columns[column].special and not state.can("avg.special.view"):
        # a special category (health, ...): only for those allowed to see it
        info["hidden"] = True
        info["requested"] = None
        info["error"] = _(
            "This is special-category data; only a board member allowed to see it can apply the correction."
        )
        return info
    # an erased member's row holds only placeholders: there is no current value to show
    erased = state.is_erased(state.registry.subject.name, str(req.subject))
    member = None if erased else reqs.subject_of(state, req)
    row = service.own_row(state, model, member) if member is not None else None
    if row is not None:
        info["current"] = model.value(row, column)
        info["known"] = True
    if req.new_value is not None:
        try:
            reqs.correction_value(state, req.field, req.new_value)
        except reqs.InvalidValue as exc:
            info["error"] = _("The value asked for does not fit this field: %(why)s", why=exc)
    return info


def _detail_page(state: AvgState, req: reqs.DataRequest, form: Any = None) -> str:
    now = utcnow()
    extend_form = req_forms.ExtendForm(
        formdata=None, days=int(config_value("REQUEST_EXTENSION_DAYS"))
    )
    correction = _correction(state, req)
    next_states = list(reqs.TRANSITIONS[req.status])
    if req.kind in (reqs.CORRECTION, reqs.ERASURE):
        # a correction is completed by applying it; an erasure after its preview
        next_states = [s for s in next_states if s != reqs.COMPLETED]
    return render_template(
        "avg/request_detail.html",
        req=req,
        form=form or StatusForm(formdata=None),
        confirm_form=req_forms.ConfirmForm(formdata=None),
        extend_form=extend_form,
        can_extend=reqs.can_extend(req, now),
        extension_days=int(config_value("REQUEST_EXTENSION_DAYS")),
        first_month_ends=reqs.deadline_for(req.received_at),
        correction=correction,
        active_limit=reqs.active_limit(state, req),
        next_states=next_states,
        statuses=reqs.STATUSES,
        now=now,
    )


@require("avg.requests.handle")
def request_detail(request_id: int) -> Any:
    state = get_state()
    req = _get_request(state, request_id)
    form = StatusForm()
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        wanted = form.status.data or ""
        if wanted == reqs.COMPLETED and req.kind == reqs.ERASURE and req.is_open:
            # never one click: the erasure is confirmed on its preview page
            return redirect(url_for("avg_self.request_erase", request_id=req.id))
        try:
            reqs.change_status(state, req, wanted, actor=current_actor(), reason=form.reason.data)
        except PurgeLocked:  # nothing changed: the request stays open
            state.db.session.rollback()
            flash(str(PURGE_RUNNING), "error")
            status, headers = 503, {"Retry-After": "60"}
        except SubjectErased:  # the member was erased meanwhile; their requests closed
            state.db.session.rollback()
            flash(str(ERASED), "error")
            status = 410
        except reqs.RequestError:
            state.db.session.rollback()
            if wanted == reqs.COMPLETED and req.kind == reqs.CORRECTION:
                flash(_("Apply the correction, or reject it with a reason."), "error")
            else:
                flash(_("This change is not possible; a rejection needs a reason."), "error")
        except Exception:
            state.db.session.rollback()
            current_app.logger.exception("flask-avg: changing request %s failed", request_id)
            flash(_("The request could not be completed; nothing was changed."), "error")
        else:
            flash(_("The request is now: %(status)s", status=str(req.status_label)), "success")
            return redirect(url_for("avg_self.request_detail", request_id=req.id))
    return _detail_page(state, req, form), status, headers


@require("avg.requests.handle")
def apply_correction(request_id: int) -> Any:
    """The board writes the value a correction request asks for, and completes it."""
    state = get_state()
    req = _get_request(state, request_id)
    if not req_forms.ConfirmForm().validate_on_submit():
        abort(400)
    status = 400
    info = _correction(state, req)
    if info is not None and info["hidden"]:
        return state.deny("avg.special.view")
    try:
        changed = reqs.apply_correction(state, req, actor=current_actor())
    except SubjectErased:
        state.db.session.rollback()
        flash(str(ERASED), "error")
        status = 410
    except reqs.InvalidValue as exc:
        state.db.session.rollback()
        flash(_("The value asked for does not fit this field: %(why)s", why=exc), "error")
    except reqs.RequestError:
        state.db.session.rollback()
        flash(_("Only an open correction request with a value can be applied."), "error")
    except service.ValueInUse:
        flash(_("This value is already in use."), "error")
        status = 409
    except service.ProfileMissing:
        flash(_("This part of the data of %(the_subject)s cannot be created here."), "error")
        status = 409
    else:
        flash(
            _("The correction has been applied; %(the_subject)s has been told.")
            if changed
            else _("The field already had this value; the request is completed."),
            "success",
        )
        return redirect(url_for("avg_self.request_detail", request_id=req.id))
    return _detail_page(state, req), status


@require("avg.requests.handle")
def request_erase(request_id: int) -> Any:
    """An erasure request: the erasure preview, then a separate confirmation."""
    state = get_state()
    req = _get_request(state, request_id)
    if req.kind != reqs.ERASURE or not req.is_open:
        return redirect(url_for("avg_self.request_detail", request_id=req.id))
    form = req_forms.ConfirmForm()
    status, headers = 200, {}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            reqs.change_status(state, req, reqs.COMPLETED, actor=current_actor())
        except PurgeLocked:  # nothing changed: the request stays open
            state.db.session.rollback()
            flash(str(PURGE_RUNNING), "error")
            status, headers = 503, {"Retry-After": "60"}
        except SubjectErased:
            state.db.session.rollback()
            flash(str(ERASED), "error")
            return redirect(url_for("avg_self.request_detail", request_id=req.id))
        except ErasureRefused as exc:  # the last Super User: the request stays open
            state.db.session.rollback()
            flash(str(exc), "error")
            status = 409
        except reqs.RequestError:
            state.db.session.rollback()
            flash(_("This change is not possible; a rejection needs a reason."), "error")
            status = 409
        except Exception:
            state.db.session.rollback()
            current_app.logger.exception("flask-avg: completing request %s failed", request_id)
            flash(_("The request could not be completed; nothing was changed."), "error")
        else:
            flash(_("The request is now: %(status)s", status=str(req.status_label)), "success")
            return redirect(url_for("avg_self.request_detail", request_id=req.id))
    key_type = state.registry.subject.primary_key[0].type.python_type
    try:
        typed = key_type(req.subject)
    except (TypeError, ValueError):
        abort(404)
    preview = reqs.erasure_preview(state, typed)
    if request.method == "GET":
        for refusal in preview.refusals:
            flash(str(refusal.reason), "error")
    page = render_template("avg/request_erase.html", req=req, form=form, preview=preview)
    return page, status, headers


@require("avg.requests.handle")
def extend_request(request_id: int) -> Any:
    """Art. 12(3): the board extends the deadline once, with a reason the member is sent."""
    state = get_state()
    req = _get_request(state, request_id)
    form = req_forms.ExtendForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return _detail_page(state, req), 400
    try:
        reqs.extend(
            state, req, actor=current_actor(), reason=form.reason.data or "", days=form.days.data
        )
    except SubjectErased:
        state.db.session.rollback()
        flash(str(ERASED), "error")
        return _detail_page(state, req), 410
    except reqs.ExtensionRefused as exc:
        state.db.session.rollback()
        messages = {
            "closed": _("Only an open request can be extended."),
            "twice": _("This request has been extended before; the law allows it once."),
            "late": _(
                "The first month after receipt has passed: the law allows an extension only"
                " within it."
            ),
            "reason": _("An extension needs a reason."),
            "days": _(
                "The extension is at most %(days)s days.",
                days=int(config_value("REQUEST_EXTENSION_DAYS")),
            ),
        }
        flash(messages.get(exc.why, _("This change is not possible.")), "error")
        return _detail_page(state, req), 409
    flash(
        _(
            "The deadline is now %(date)s; %(the_subject)s has been told why.",
            date=format_date(req.deadline, "long"),
        ),
        "success",
    )
    return redirect(url_for("avg_self.request_detail", request_id=req.id))


def _paper_form(state: AvgState) -> Any:
    form = req_forms.PaperRequestForm()
    form.kind.choices = [choice(k, label) for k, label in reqs.KINDS.items()]
    form.channel.choices = [choice(c, reqs.CHANNELS[c]) for c in reqs.BOARD_CHANNELS]
    form.identity_check.choices = [
        choice(c, reqs.IDENTITY_CHECKS[c]) for c in reqs.BOARD_IDENTITY_CHECKS
    ]
    form.purpose.choices = [choice(key) for key in reqs.objection_purposes(state)]
    keys = [*field_policy.locked_columns(state), *field_policy.editable_columns(state)]
    form.field.choices = [
        choice(k, field_policy.field_label(*field_policy.split_key(state, k))) for k in keys
    ]
    return form


def _paper_error(state: AvgState, form: Any) -> str | None:
    kind = form.kind.data
    if kind == reqs.OBJECTION and form.purpose.data not in reqs.objection_purposes(state):
        return _("Choose the purpose objected to.")
    if kind == reqs.CORRECTION:
        if form.field.data not in {_choice_key(c) for c in form.field.choices}:
            return _("Choose the field that should be corrected.")
        if not form.value.data:
            return _("Give the value the field should have.")
        try:
            reqs.correction_value(
                state, field_policy.request_field(state, form.field.data), form.value.data
            )
        except reqs.InvalidValue as exc:
            return _("The value asked for does not fit this field: %(why)s", why=exc)
    received = form.received_on.data
    if received is not None and received > utcnow().date():
        return _("The date of receipt cannot lie in the future.")
    return None


def _choice_key(item: Any) -> str:
    return str(item.value if hasattr(item, "value") else item[0])


@require("avg.requests.handle")
def record_request() -> Any:
    """The board records a request received on paper, by phone or in person."""
    state = get_state()
    search = req_forms.SubjectSearchForm(request.args)
    form = _paper_form(state)
    chosen = request.values.get("subject", "")[:64]
    member = subject_or_404(state, chosen) if chosen else None
    status = 200
    if request.method == "POST" and member is not None:
        error = None
        if form.validate_on_submit():
            error = _paper_error(state, form)
            if error is None:
                kind = form.kind.data or ""
                field = form.field.data if kind == reqs.CORRECTION else None
                received = form.received_on.data
                when = None
                if received is not None and received != utcnow().date():
                    when = datetime.combine(received, time(12, 0), tzinfo=UTC)
                try:
                    req = reqs.file_request(
                        state,
                        service.subject_id(state, member),
                        kind,
                        user_id=None,
                        purpose=form.purpose.data if kind == reqs.OBJECTION else None,
                        field=field_policy.request_field(state, field) if field else None,
                        message=form.message.data,
                        new_value=form.value.data if field else None,
                        channel=form.channel.data or reqs.PAPER,
                        identity_check=form.identity_check.data or "other",
                        identity_note=form.identity_note.data,
                        received_at=when,
                    )
                except SubjectErased:
                    state.db.session.rollback()
                    flash(str(ERASED), "error")
                    return redirect(url_for("avg_self.request_queue"))
                except reqs.RequestError:
                    state.db.session.rollback()
                    error = _("%(This_subject)s already has an open request of this kind.")
                else:
                    flash(_("The request has been recorded."), "success")
                    return redirect(url_for("avg_self.request_detail", request_id=req.id))
        elif "csrf_token" in form.errors:
            abort(400)
        else:
            error = next(
                (str(e) for errors in form.errors.values() for e in errors),
                _("The form could not be sent; please try again."),
            )
        flash(error, "error")
        status = 400
    elif request.method == "POST":
        abort(400)
    found = None
    if member is None and search.validate() and search.q.data:
        # current and former members: both may ask; an erased one shows without a choice
        found = members_service.list_page(state, search.q.data, 1, special=False, status="all")
    model = state.registry.subject
    naming = found.naming if found is not None else None
    return render_template(
        "avg/request_record.html",
        form=form,
        search=search,
        found=found,
        member=member,
        member_key=service.subject_id(state, member) if member is not None else None,
        number_label=column_label(model, naming.number) if naming and naming.number else None,
        labels={c: column_label(model, c) for c in model.columns},
        today=utcnow().date(),
    ), status


@require("avg.requests.handle")
def lift_request(request_id: int) -> Any:
    state = get_state()
    req = _get_request(state, request_id)
    form = StatusForm()
    if not form.validate_on_submit():
        abort(400)
    if reqs.lift_request(state, req, actor=current_actor()):
        flash(_("Lifted; %(the_subject)s has been told."), "success")
    return redirect(url_for("avg_self.request_detail", request_id=req.id))


# -- the board: field rights --------------------------------------------------------


@require("avg.fields.manage")
def field_rights() -> Any:
    state = get_state()
    form = FieldRightsForm()
    if form.validate_on_submit():
        wanted = {
            r.key: request.form.get(f"editable_{r.key}") == "on" for r in field_policy.rights(state)
        }
        service.save_field_rights(state, wanted, actor=current_actor())
        flash(_("Field rights saved."), "success")
        return redirect(url_for("avg_self.field_rights"))
    return render_template(
        "avg/field_rights.html",
        form=form,
        rights=field_policy.rights(state),
        model=state.registry.subject,
    )


def overdue_count(state: AvgState) -> int:
    """Open requests past their deadline: the menu's badge (one count query)."""
    stmt = (
        select(func.count())
        .select_from(reqs.DataRequest)
        .where(reqs.DataRequest.status.in_(reqs.OPEN), reqs.DataRequest.deadline < utcnow())
    )
    return int(state.db.session.scalar(stmt) or 0)


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("self", __name__)
    bp.add_app_template_filter(lambda key: reqs.purpose_label(state, key), "avg_purpose")
    bp.add_app_template_filter(reqs.host_text, "avg_host_text")
    state.nav.append(
        NavItem(
            "avg_self.request_queue",
            _l("Privacy requests"),
            "avg.requests.handle",
            "requests",
            lambda: overdue_count(state),
        )
    )
    state.nav.append(
        NavItem("avg_self.field_rights", _l("Field rights"), "avg.fields.manage", "members")
    )
    state.dashboard.append(
        DashboardPanel(
            key="requests",
            title=_l("Privacy requests"),
            template="avg/_requests_panel.html",
            context=_requests_panel,
            action="avg.requests.handle",
            order=10,
        )
    )
    bp.add_url_rule("/me", endpoint="me", view_func=me, methods=["GET"])
    bp.add_url_rule("/me/edit", endpoint="edit", view_func=edit, methods=["GET", "POST"])
    bp.add_url_rule(
        "/me/requests", endpoint="my_requests", view_func=my_requests, methods=["GET", "POST"]
    )
    bp.add_url_rule("/requests", endpoint="request_queue", view_func=request_queue, methods=["GET"])
    bp.add_url_rule(
        "/requests/<avg_id:request_id>",
        endpoint="request_detail",
        view_func=request_detail,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/requests/new",
        endpoint="record_request",
        view_func=record_request,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/requests/<avg_id:request_id>/apply",
        endpoint="apply_correction",
        view_func=apply_correction,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/requests/<avg_id:request_id>/erase",
        endpoint="request_erase",
        view_func=request_erase,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/requests/<avg_id:request_id>/extend",
        endpoint="extend_request",
        view_func=extend_request,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/requests/<avg_id:request_id>/lift",
        endpoint="lift_request",
        view_func=lift_request,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/fields", endpoint="field_rights", view_func=field_rights, methods=["GET", "POST"]
    )
    return bp


def register_commands(group: Any) -> None:
    """``flask avg requests``: the open requests and their deadlines, for a cron job."""
    import click
    from flask.cli import with_appcontext

    @group.command("requests")
    @click.option("--overdue", is_flag=True, help="Only requests past their deadline.")
    @click.option("--all", "show_all", is_flag=True, help="Closed requests too.")
    @with_appcontext
    def requests_command(overdue: bool, show_all: bool) -> None:
        """List privacy requests with their deadlines; exit status 1 when any is overdue."""
        state = current_app.extensions["avg"]
        now = utcnow()
        items = reqs.queue(state, show="all" if show_all else "open")
        late = [r for r in items if r.overdue(now)]
        for r in late if overdue else items:
            flag = "  OVERDUE" if r.overdue(now) else ""
            click.echo(
                f"#{r.id} {r.kind:<11} subject {r.subject:<8} {r.status:<11} "
                f"received {r.received_at:%Y-%m-%d} deadline {r.deadline:%Y-%m-%d}{flag}"
            )
        click.echo(f"{len([r for r in items if r.is_open])} open, {len(late)} overdue")
        if late:
            raise SystemExit(1)
