"""Erase one member now (a request, or the board's button), in two phases.

Phase one asks every declared model whether its rows of this member can go
and, if not, why (a legal hold until a date). Phase two erases everything
erasable in one transaction through the same engine as the purge. Rows kept
under a hold go in a later purge, once their own retention ends.

Both phases run under the purge lock, so an erasure never interleaves with a
running purge (whose batches may be erasing the same member).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app, g, has_app_context, has_request_context
from flask_login import logout_user
from sqlalchemy import func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm.exc import ObjectDeletedError

from flask_avg.core import external
from flask_avg.core.audit import current_actor
from flask_avg.core.config import config_value
from flask_avg.core.converters import add_days
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.logins import logins_of
from flask_avg.core.plugins import EraseContext, ErasureRefused, SubjectContext
from flask_avg.core.presenters import column_label
from flask_avg.core.registry import DeclaredModel
from flask_avg.core.signals import subject_erased
from flask_avg.core.subjects import lock_subject
from flask_avg.features.retention import engine, ledger
from flask_avg.features.retention import farewell as farewells
from flask_avg.features.retention.lock import Lock
from flask_avg.features.retention.plan import Plan
from flask_avg.features.retention.preview import SharedRows, shared

#: What the web user is told when an erasure met a running purge (``PurgeLocked``).
PURGE_RUNNING = _l("A retention purge is running; try again in a minute. Nothing was changed.")


@dataclass
class Outcome:
    """One line of an erasure result: ``count`` rows of ``model``, and why."""

    model: str
    count: int
    reason: str
    until: date | None = None


@dataclass
class Check:
    """Phase one, per model: how many rows, and whether they can all go."""

    model: str
    rows: int
    can_erase: bool
    held: int = 0
    until: date | None = None
    reason: str = ""
    #: rows that also belong to a member who stays, and what happens to them
    shared: SharedRows | None = None


@dataclass
class ErasureResult:
    subject_id: Any
    checks: list[Check] = field(default_factory=list)
    removed: list[Outcome] = field(default_factory=list)
    anonymised: list[Outcome] = field(default_factory=list)
    retained: list[Outcome] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.retained

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per model, for audit entries and signals (no personal values)."""
        out: dict[str, dict[str, int]] = {}
        for kind, items in (
            ("removed", self.removed),
            ("anonymised", self.anonymised),
            ("retained", self.retained),
        ):
            for item in items:
                out.setdefault(item.model, {})[kind] = (
                    out.get(item.model, {}).get(kind, 0) + item.count
                )
        return out


def _fmt(day: date) -> str:
    try:
        from flask_babel import format_date

        return str(format_date(day, "long"))
    except Exception:  # noqa: BLE001 - outside a request the ISO date does
        return day.isoformat()


def check(state: Any, plan: Plan, subject_id: Any) -> list[Check]:
    """Phase one: can each model's rows of this subject be erased now?"""
    session = state.db.session
    checks: list[Check] = []
    with_others = {found.model: found for found in shared(state, plan, [subject_id])}
    for model in state.registry:
        own = state.resolver.ownership(model, [subject_id])
        rows = int(session.scalar(select(func.count()).select_from(model.table).where(own)) or 0)
        item = Check(model.name, rows, can_erase=True, shared=with_others.get(model.name))
        if rows and plan.held(model):
            kept = own & ~plan.expired(model)
            item.held = int(
                session.scalar(select(func.count()).select_from(model.table).where(kept)) or 0
            )
            if item.held:
                anchor = model.anchor_column
                latest = session.scalar(select(func.max(anchor)).where(kept))
                item.can_erase = False
                item.until = plan.held_until(model, latest)
                item.reason = hold_reason(state, plan, model, latest)
        checks.append(item)
    return checks


def hold_reason(state: Any, plan: Plan, model: DeclaredModel, latest: Any) -> str:
    """Why rows of ``model`` under a legal floor stay, honestly split in two: the law's
    minimum (the anchor date + the legal years, with the law's reason) and, where the
    board chose a longer period, the organisation's own choice after that.

    Dates already past are never shown: the purge takes those rows at its next run.
    """
    cat = plan.category(model)
    why = str(cat.floor_reason or _("a legal retention duty"))
    if latest is None:
        return _("Kept under a legal hold while the record is current: %(reason)s", reason=why)
    anchor = str(anchor_label(model))
    day = latest.date() if isinstance(latest, datetime) else latest
    law_until = add_days(day, cat.floor_days + 1) or date.max
    club_until = plan.held_until(model, latest) or date.max
    today = plan.as_of
    parts = []
    if law_until > today:
        parts.append(
            _(
                "The law requires keeping them until %(date)s (%(anchor)s + %(years)s years): "
                "%(reason)s",
                date=_fmt(law_until),
                anchor=anchor,
                years=round(cat.floor_days / 365.25),
                reason=why,
            )
        )
    if club_until > law_until:
        choice = _(
            "By its own choice, not by law, the %(organisation)s keeps them longer: until "
            "%(date)s (its retention period of %(days)s days from the %(anchor)s).",
            date=_fmt(club_until),
            days=plan.days[model.policy.retention or ""],
            anchor=anchor,
        )
        if law_until <= today:
            choice = _(
                "The legal duty to keep them has ended; by its own choice, not by law, the "
                "%(organisation)s keeps them until %(date)s (its retention period of "
                "%(days)s days from the %(anchor)s).",
                date=_fmt(club_until),
                days=plan.days[model.policy.retention or ""],
                anchor=anchor,
            )
        parts.append(choice)
    return " ".join(parts)


def anchor_label(model: DeclaredModel) -> str:
    """What a model's retention is counted from, as its declaration says: the label of
    its anchor column ("sent at" for messages, "end date" for members)."""
    name = model.policy.anchor
    if not name:
        return ""
    text = str(column_label(model, name))
    return text[:1].lower() + text[1:]  # it stands inside a sentence


def forget_erased(state: Any, session: Any, logins: list[str], mine: str | None = None) -> None:
    """Drop objects of deleted rows from the session; log out an erased current user.

    ``mine`` is the current user's account key, read before the erasure: an account
    that erased itself can no longer be read (a server error, seen in the privilege sweep).
    """
    classes = {m.cls for m in state.registry if m.cls is not None}
    for obj in list(session.identity_map.values()):
        if type(obj) in classes:
            try:
                session.refresh(obj)
            except (ObjectDeletedError, InvalidRequestError):
                session.expunge(obj)
    if has_app_context():
        g.pop("_avg_erased", None)
        g.pop("_avg_ledger_entries", None)
        g.pop("_avg_subjects", None)
    if has_request_context():
        name = ledger.login_model_name(state)
        if name and mine is not None and mine in logins:
            logout_user()


def refusals(
    state: Any, subject_id: Any, logins: list[str], reason: str = "request", actor: Any = None
) -> list[Any]:
    """The plugins' refusals to erase this subject now (empty: it may go)."""
    pk = state.registry.subject.primary_key[0]
    ctx = EraseContext(
        state,
        state.db.session,
        select(pk).where(pk == subject_id),
        [str(subject_id)],
        logins,
        reason,
        actor,
        date.today(),
    )
    return state.plugins.refuse(ctx)


def erase_subject(
    state: Any,
    subject_id: Any,
    *,
    actor: str | None = None,
    reason: str = "request",
    wait: float | None = None,
    farewell: bool = True,
) -> ErasureResult:
    """Erase one subject now; everything under a legal hold stays until its own date.

    Commits what the session has pending, takes the purge lock (waiting up to
    ``wait`` seconds, default ``AVG_ERASE_LOCK_WAIT``), erases and commits.
    Raises :class:`LookupError` when there is no such subject,
    :class:`~flask_avg.features.retention.lock.PurgeLocked`, having changed nothing, when
    a purge holds the lock that long, and :class:`~flask_avg.core.plugins.ErasureRefused`,
    having changed nothing, when a plugin refuses (the last Super User). With an address
    on record the member gets a last mail with the result (``farewell=False``: the caller
    sends its own).
    """
    session = state.db.session
    subject = state.registry.subject
    pk = subject.primary_key[0]
    if session.scalar(select(pk).where(pk == subject_id)) is None:
        raise LookupError(f"no {subject.name} with key {subject_id!r}")
    mine = current_actor()  # before the erasure, which may remove this very account
    actor = actor if actor is not None else mine
    last = farewells.before(state, subject_id) if farewell else None  # read while it exists
    # SQLite's lock is a row written on a connection of its own: no write may be pending here
    session.commit()
    wait = float(config_value("ERASE_LOCK_WAIT")) if wait is None else wait
    with Lock(state, wait=wait):
        try:
            result, logins = _erase(state, subject_id, actor, reason)
        except BaseException:
            session.rollback()  # nothing of a failed erasure may ride on a later commit
            raise
    forget_erased(state, session, logins, mine)
    external.run(state)  # files, mailing lists: after the commit, failures kept for a retry
    subject_erased.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        subject_id=subject_id,
        result=result,
    )
    if last is not None:
        farewells.send(state, last, result, reason)
    return result


def _erase(
    state: Any, subject_id: Any, actor: str | None, reason: str
) -> tuple[ErasureResult, list[str]]:
    """Both phases, one transaction, committed.

    The subject's row is locked first: a write for this person that holds it
    (a correction, a consent) commits before anything is read, and one that
    waits for it finds the person erased (see :mod:`flask_avg.core.subjects`).
    """
    session = state.db.session
    lock_subject(state, subject_id, allow_erased=True)
    plan = Plan(state, date.today())
    result = ErasureResult(subject_id, check(state, plan, subject_id))
    ctx = SubjectContext(state, session, subject_id, logins_of(state, [subject_id]))
    refused = refusals(state, subject_id, ctx.logins, reason, actor)
    if refused:
        raise ErasureRefused(refused)
    holds = state.plugins.check(ctx)
    batch = engine.erase_subjects(
        session,
        plan,
        engine.by_keys(plan, [subject_id]),
        reason=reason[:16],
        count_held=True,
        actor=actor,
    )
    for item in result.checks:
        if item.held:
            result.retained.append(Outcome(item.model, item.held, item.reason, item.until))
    for _plugin, done in batch.plugins:
        if done.removed:
            result.removed.append(Outcome(done.name, done.removed, _("Deleted")))
        if done.anonymised:
            why = _("Personal values removed; the record itself is kept")
            result.anonymised.append(Outcome(done.name, done.anonymised, why))
    for _plugin, hold in holds:
        result.retained.append(Outcome(hold.name, hold.rows, str(hold.reason), hold.until))
    for model in plan.order:
        counts = batch.counts.get(model.name)
        if counts is None:
            continue
        if counts.deleted:
            result.removed.append(Outcome(model.name, counts.deleted, _("Deleted")))
        if counts.unlinked:
            why = _(
                "Kept for the other %(subjects)s they belong to, without the link to this %(subject)s"
            )
            result.anonymised.append(Outcome(model.name, counts.unlinked, why))
        if counts.anonymised:
            why = (
                _("Anonymised instead of deleted: records that must be kept still refer to it")
                if counts.blocked and plan.action(model) == "delete"
                else _("Anonymised: the record itself is kept without personal data")
            )
            result.anonymised.append(Outcome(model.name, counts.anonymised, why))
        elif counts.blocked and not model.is_subject:
            result.retained.append(
                Outcome(
                    model.name,
                    counts.blocked,
                    _("Kept until the records that must be kept and refer to it are gone"),
                )
            )
    state.audit.record(
        "subject.erased",
        subject=subject_id,
        actor=actor,
        detail={"reason": reason[:40], "models": result.summary()},
    )
    session.commit()
    return result, batch.logins
