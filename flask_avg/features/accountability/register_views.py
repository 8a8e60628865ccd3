"""Register of processing activities and the processor agreement annex: page, form, exports."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from flask_avg.core.audit import current_actor
from flask_avg.core.i18n import gettext as _
from flask_avg.extension import require
from flask_avg.features.accountability import annex, register

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _form_class(reg: register.Register) -> type[FlaskForm]:
    attrs: dict[str, Any] = {
        key: TextAreaField(label, validators=[Length(max=4000)])
        for key, label in register.BOARD_FIELDS.items()
    }
    for i, act in enumerate(reg.activities):
        attrs[f"people_{i}"] = TextAreaField(act.purpose, validators=[Length(max=1000)])
    return type("RegisterForm", (FlaskForm,), attrs)


def register_routes(bp: Blueprint, state: Any) -> None:
    @bp.route("/register", methods=["GET", "POST"])
    @require("avg.register.manage")
    def register_page() -> Any:
        reg = register.build(state)
        overrides = register.people_overrides(state)
        form = _form_class(reg)(
            data={
                **reg.fields,
                **{
                    f"people_{i}": overrides.get(a.purpose, "")
                    for i, a in enumerate(reg.activities)
                },
            }
        )
        if form.validate_on_submit():
            changed = []
            for key in register.BOARD_FIELDS:
                value = (form[key].data or "").strip()
                if value != reg.fields.get(key, ""):
                    state.settings.set(f"register.{key}", value, actor=current_actor())
                    changed.append(key)
            people = {
                act.purpose: (form[f"people_{i}"].data or "").strip()
                for i, act in enumerate(reg.activities)
                if (form[f"people_{i}"].data or "").strip()
            }
            if people != overrides:
                state.settings.set("register.people_per_purpose", people, actor=current_actor())
                changed.append("people_per_purpose")
            if changed:
                state.audit.record("register.save", fields=changed)
            state.db.session.commit()
            flash(_("The register is saved."))
            return redirect(url_for("avg_accountability.register_page"))
        return render_template("avg/accountability/register.html", reg=reg, form=form)

    @bp.route("/register.xlsx")
    @require("avg.register.manage")
    def register_xlsx() -> Any:
        data = register.to_excel(register.build(state))
        state.audit.record("register.export", detail={"format": "xlsx"})
        state.db.session.commit()
        return Response(
            data,
            mimetype=XLSX,
            headers={"Content-Disposition": 'attachment; filename="register.xlsx"'},
        )

    @bp.route("/register/annex")
    @require("avg.register.manage")
    def annex_page() -> Any:
        return render_template("avg/accountability/annex.html", reg=register.build(state))

    @bp.route("/register/annex.md")
    @require("avg.register.manage")
    def annex_markdown() -> Any:
        text = annex.to_markdown(register.build(state))
        state.audit.record("register.annex", detail={"format": "md"})
        state.db.session.commit()
        return Response(
            text,
            mimetype="text/markdown",
            headers={"Content-Disposition": 'attachment; filename="annex.md"'},
        )
