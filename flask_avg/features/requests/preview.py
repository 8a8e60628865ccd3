"""What completing an erasure request would do: the same preview as the board's
"Erase this member" page, built by the retention feature's own phase-one check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from flask_avg.core.logins import logins_of
from flask_avg.core.plugins import SubjectContext

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@dataclass
class ErasurePreview:
    """Per model the member's rows and whether they can go (``checks``), what other
    features keep and why (``holds``), why the erasure cannot run now (``refusals``),
    and labels for the model and plugin names."""

    subject_id: Any
    checks: list[Any]
    holds: list[Any]
    refusals: list[Any]
    labels: dict[str, Any] = field(default_factory=dict)


def erasure_preview(state: AvgState, subject_id: Any) -> ErasurePreview:
    """The erasure preview of ``subject_id`` (typed key); reads only."""
    from flask_avg.features.retention.erase import check, refusals
    from flask_avg.features.retention.plan import Plan

    checks = check(state, Plan(state, date.today()), subject_id)
    ctx = SubjectContext(state, state.db.session, subject_id, logins_of(state, [subject_id]))
    labels = {**state.plugins.labels(), **{m.name: m.label for m in state.registry}}
    return ErasurePreview(
        subject_id,
        checks,
        [hold for _plugin, hold in state.plugins.check(ctx)],
        list(refusals(state, subject_id, ctx.logins, "request")),
        labels,
    )
