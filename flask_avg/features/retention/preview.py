"""Counts of what a purge would remove today, cheap enough for a page or a panel."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from flask_avg.features.retention.plan import Plan


def preview(
    state: Any, days: dict[str, int] | None = None, as_of: date | None = None
) -> dict[str, dict[str, int]]:
    """Per retention category and model: rows past their retention date (``days`` overrides).

    For the subject model it counts the people whose data would be erased;
    rows they own that have no retention category of their own go with them.
    """
    plan = Plan(state, as_of or date.today(), days)
    session = state.db.session
    out: dict[str, dict[str, int]] = {key: {} for key in state.catalogue.retention}
    for model in state.registry:
        category = model.policy.retention
        if not category or model.anchor_column is None:
            continue
        cond = plan.expired(model)
        if model.is_subject or plan.action(model) == "anonymise":
            cond = cond & plan.not_anonymised(model)
        stmt = select(func.count()).select_from(model.table).where(cond)
        out[category][model.name] = int(session.scalar(stmt) or 0)
    return out
