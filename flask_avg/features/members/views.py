"""The board's member pages: the list and one member's data (guarded by the ACL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template, request

from flask_avg.core.converters import query_text
from flask_avg.core.presenters import subject_or_404
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state, require
from flask_avg.features.members import service

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@require("avg.members.view")
def members() -> Any:
    state = get_state()
    query = query_text(request.args.get("q"))
    page = request.args.get("page")
    found = service.list_page(state, query, page, special=state.can("avg.special.view"))
    subject = state.registry.subject
    return render_template(
        "avg/members.html",
        rows=found.rows,
        columns=found.columns,
        subject=subject,
        key=subject.primary_key[0].name,
        total=found.total,
        page=found.page,
        pages=found.pages,
        q=query,
    )


@require("avg.members.view")
def member(subject_id: str) -> Any:
    state = get_state()
    subject = subject_or_404(state, subject_id)
    data = service.view_member(state, subject, special=state.can("avg.special.view"))
    return render_template("avg/member.html", data=data)


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("admin", __name__)
    bp.add_url_rule("/members", endpoint="members", view_func=members, methods=["GET"])
    bp.add_url_rule("/members/<subject_id>", endpoint="member", view_func=member, methods=["GET"])
    return bp
