"""The board's member pages: the list and one member's data (guarded by the ACL)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy import func, select

from flask_avg.core.presenters import collect, member_list_query, subject_or_404
from flask_avg.core.web import make_blueprint
from flask_avg.extension import require

PAGE_SIZE = 50


def create_blueprint(state: Any) -> Blueprint:
    bp = make_blueprint("admin", __name__)

    @bp.route("/members")
    @require("avg.members.view")
    def members() -> Any:
        subject = state.registry.subject
        shown = list(subject.exported_columns(special=state.can("avg.special.view")))
        query = request.args.get("q", "").strip()
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        stmt = member_list_query(state, shown, query)
        total = state.db.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = state.db.session.execute(
            stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).mappings()
        return render_template(
            "avg/members.html",
            rows=list(rows),
            columns=shown,
            subject=subject,
            key=subject.primary_key[0].name,
            total=total,
            page=page,
            pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            q=query,
        )

    @bp.route("/members/<subject_id>")
    @require("avg.members.view")
    def member(subject_id: str) -> Any:
        subject = subject_or_404(state, subject_id)
        data = collect(state, subject, special=state.can("avg.special.view"))
        state.audit.record("members.view", subject=data.subject_id)
        state.db.session.commit()
        return render_template("avg/member.html", data=data)

    return bp
