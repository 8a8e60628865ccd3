"""The board's member pages: the list and one member's data (guarded by the ACL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template, request

from flask_avg.core.converters import query_text
from flask_avg.core.presenters import column_label, subject_or_404
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state, require
from flask_avg.features.members import service

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@require("avg.members.view")
def members() -> Any:
    state = get_state()
    args = request.args
    query = query_text(args.get("q"))
    found = service.list_page(
        state,
        query,
        args.get("page"),
        special=state.can("avg.special.view"),
        status=service.choice(args.get("status"), service.STATUSES, "current"),
        sort=service.choice(args.get("sort"), service.SORTS, "name"),
        descending=args.get("dir") == "desc",
        page_size=service.page_size(args.get("size")),
    )
    subject = state.registry.subject
    naming = found.naming
    anchor = subject.policy.anchor
    return render_template(
        "avg/members.html",
        found=found,
        rows=found.rows,
        columns=found.columns,
        subject=subject,
        number_label=column_label(subject, naming.number) if naming and naming.number else None,
        anchor_label=column_label(subject, anchor) if anchor else None,
        total=found.total,
        page=found.page,
        pages=found.pages,
        q=query,
        statuses=service.STATUSES,
    )


@require("avg.members.view")
def member(subject_id: str) -> Any:
    state = get_state()
    subject = subject_or_404(state, subject_id)
    data = service.view_member(state, subject, special=state.can("avg.special.view"))
    return render_template("avg/member.html", data=data, label=service.member_label(state, subject))


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("admin", __name__)
    bp.add_url_rule("/members", endpoint="members", view_func=members, methods=["GET"])
    bp.add_url_rule("/members/<subject_id>", endpoint="member", view_func=member, methods=["GET"])
    return bp
