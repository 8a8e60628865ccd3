"""Counts of what a purge would remove today, cheap enough for a page or a panel,
and of the rows an erasure would take from members who stay (:func:`shared`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, func, or_, select

from flask_avg.core.presenters import column_label
from flask_avg.features.retention.plan import Plan

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def preview(
    state: AvgState, days: dict[str, int] | None = None, as_of: date | None = None
) -> dict[str, dict[str, int]]:
    """Per retention category and model: the rows the purge would delete or anonymise
    (``days`` tries other periods).

    Exact: it *is* the purge, run as a dry run and rolled back, so rows that go
    with their expired member, cascades and holds are counted as the purge will
    treat them. While another purge holds the lock it falls back to
    :func:`estimate`.
    """
    result = preview_run(state, days, as_of)
    if result is None:
        return estimate(state, days, as_of)
    out: dict[str, dict[str, int]] = {key: {} for key in state.catalogue.retention}
    for model in state.registry:
        category = model.policy.retention
        if category in out and model.anchor_column is not None:
            out[category][model.name] = 0
    for category, models in result.categories.items():
        for name, counts in models.items():
            done = counts.deleted + counts.anonymised
            if done or name in out.get(category, {}):
                out.setdefault(category, {})[name] = done
    return out


def preview_run(
    state: AvgState, days: dict[str, int] | None = None, as_of: date | None = None
) -> Any:
    """The purge as a dry run (a :class:`~.purge.PurgeResult` with deleted and anonymised
    counts per category and model, exactly what the purge would do), or None while
    another purge holds the lock."""
    from flask_avg.features.retention.lock import PurgeLocked
    from flask_avg.features.retention.purge import purge

    try:
        return purge(state, as_of, dry_run=True, wait=2.0, days=days)
    except PurgeLocked:
        return None


def estimate(
    state: AvgState, days: dict[str, int] | None = None, as_of: date | None = None
) -> dict[str, dict[str, int]]:
    """Per retention category and model: rows past their own retention date, in one
    count each; cheaper than :func:`preview` but blind to rows that go with
    their expired member."""
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


@dataclass
class SharedRows:
    """Rows an erasure reaches that also belong to a member who stays."""

    model: str
    rows: int
    #: ``"keep"``: they stay for the others, without the erased member's link and
    #: ``columns``; ``"delete"`` or ``"anonymise"``: that happens for everyone
    action: str
    #: with ``"keep"``: the erased members' columns blanked with their links
    #: (``personal(party=...)``), as readable labels
    columns: tuple[str, ...] = ()


def shared(
    state: AvgState, plan: Plan, subject_ids: Sequence[Any] | Select[Any], *, purging: bool = False
) -> list[SharedRows]:
    """Per model whose rows may belong to several members (a message's sender and
    recipient): how many rows owned by ``subject_ids`` also belong to someone
    else, and what erasing them does to those rows (``ModelPolicy(shared=...)``).

    One count per such model. Rows under a legal hold are left out (the erasure
    does not touch them); ``purging`` leaves out models whose expired rows the
    purge removes on their own retention date anyway (see :meth:`Plan.left_to_rows`).
    """
    session = state.db.session
    resolver = state.resolver
    out: list[SharedRows] = []
    for model in state.registry:
        if not model.shareable or (purging and plan.left_to_rows(model)):
            continue
        parties = {
            party: resolver.ownership(model, subject_ids, paths)
            & resolver.others_own(model, party, subject_ids)
            for party, paths in model.parties.items()
        }
        cond: Any = or_(*parties.values())
        if plan.held(model):
            cond = cond & plan.expired(model)
        per_party = [func.sum(case((c, 1), else_=0)) for c in parties.values()]
        found = session.execute(
            select(func.count(), *per_party).select_from(model.table).where(cond)
        ).one()
        if not found[0]:
            continue
        keep = model.policy.shared == "keep"
        linked = {party for party, n in zip(parties, found[1:], strict=True) if n}
        blanked = tuple(
            str(column_label(model, name))
            for name, spec in model.columns.items()
            if keep and spec.party in linked
        )
        action = "keep" if keep else plan.action(model)
        out.append(SharedRows(model.name, int(found[0]), action, blanked))
    return out


def shared_on_purge(
    state: AvgState, days: dict[str, int] | None = None, as_of: date | None = None
) -> list[SharedRows]:
    """:func:`shared` for the members the next purge would erase."""
    plan = Plan(state, as_of or date.today(), days)
    subject = state.registry.subject
    if not subject.policy.retention or subject.anchor_column is None:
        return []
    key = subject.primary_key[0]
    expired = select(key).where(plan.expired(subject) & plan.not_anonymised(subject))
    return shared(state, plan, expired, purging=True)
