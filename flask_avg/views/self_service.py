"""Member self-service: a member's own data, grouped by category with purpose and basis."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from ..extension import require
from ..presenters import collect
from ..signals import personal_data_viewed
from . import make_blueprint


def create_blueprint(state: Any) -> Blueprint:
    bp = make_blueprint("self", __name__)

    @bp.route("/me")
    @require("avg.self.view")
    def me() -> Any:
        subject = state.subject_for(current_user)
        if subject is None:
            return render_template("avg/no_subject.html"), 404
        # Art. 15: a member sees all data held on them, special categories included.
        data = collect(state, subject, special=True)
        state.audit.record(
            "self.view", subject=data.subject_id, detail={"models": len(data.models)}
        )
        state.db.session.commit()
        personal_data_viewed.send(current_app._get_current_object(), subject=subject)  # type: ignore[attr-defined]
        return render_template("avg/me.html", data=data)

    return bp
