"""Register of processing activities and the processor agreement annex: page, form, exports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from wtforms import TextAreaField
from wtforms.validators import Length

from flask_avg.core.audit import current_actor
from flask_avg.core.forms import AvgForm
from flask_avg.core.i18n import gettext as _
from flask_avg.extension import get_state, require
from flask_avg.features.accountability import register

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _form_class(reg: register.Register) -> type[AvgForm]:
    attrs: dict[str, Any] = {
        key: TextAreaField(label, validators=[Length(max=4000)])
        for key, label in register.BOARD_FIELDS.items()
    }
    for i, act in enumerate(reg.activities):
        attrs[f"people_{i}"] = TextAreaField(act.purpose, validators=[Length(max=1000)])
    return type("RegisterForm", (AvgForm,), attrs)


def _register_form(state: AvgState, reg: register.Register) -> AvgForm:
    """The form, filled with what is stored (the defaults where the board entered nothing)."""
    overrides = register.people_overrides(state)
    people = {f"people_{i}": overrides.get(a.purpose, "") for i, a in enumerate(reg.activities)}
    return _form_class(reg)(data={**reg.fields, **people})


def _download(body: Any, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@require("avg.register.manage")
def register_page() -> Any:
    state = get_state()
    reg = register.build(state)
    form = _register_form(state, reg)
    if form.validate_on_submit():
        register.save_board_fields(
            state,
            {key: form[key].data or "" for key in register.BOARD_FIELDS},
            {act.purpose: form[f"people_{i}"].data or "" for i, act in enumerate(reg.activities)},
            actor=current_actor(),
        )
        flash(_("The register is saved."))
        return redirect(url_for("avg_accountability.register_page"))
    return render_template("avg/accountability/register.html", reg=reg, form=form)


@require("avg.register.manage")
def register_xlsx() -> Any:
    return _download(register.export_excel(get_state()), XLSX, "register.xlsx")


@require("avg.register.manage")
def annex_page() -> Any:
    return render_template("avg/accountability/annex.html", reg=register.build(get_state()))


@require("avg.register.manage")
def annex_markdown() -> Any:
    return _download(register.export_annex(get_state()), "text/markdown", "annex.md")


def register_routes(bp: Blueprint, state: AvgState) -> None:
    bp.add_url_rule(
        "/register", endpoint="register_page", view_func=register_page, methods=["GET", "POST"]
    )
    bp.add_url_rule(
        "/register.xlsx", endpoint="register_xlsx", view_func=register_xlsx, methods=["GET"]
    )
    bp.add_url_rule("/register/annex", endpoint="annex_page", view_func=annex_page, methods=["GET"])
    bp.add_url_rule(
        "/register/annex.md", endpoint="annex_markdown", view_func=annex_markdown, methods=["GET"]
    )
