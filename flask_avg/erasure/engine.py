"""The set-based core shared by the purge and by erasing one member.

:func:`erase_subjects` removes everything a batch of subjects owns, in one
transaction (the caller commits): one ``DELETE`` or ``UPDATE`` per model,
children before parents, the ownership expressed by the resolver's nested
``IN`` clauses. The subject keys are materialised first (a list), so no
statement selects from the table it changes (MariaDB error 1093), and the
keys of models reached *down* from the subject (its login account) are read
before the subject row loses its pointer to them.

:func:`purge_expired` removes the expired rows of one model in keyset batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..registry import DeclaredModel
from .plan import Plan

#: Called after every committed batch (tests slow it down to kill a purge mid-run).
batch_hook: Callable[[], None] | None = None


@dataclass
class ModelCounts:
    deleted: int = 0
    anonymised: int = 0
    #: rows kept under a legal hold
    held: int = 0
    #: rows kept because other kept rows still point to them
    blocked: int = 0

    def add(self, other: ModelCounts) -> None:
        self.deleted += other.deleted
        self.anonymised += other.anonymised
        self.held += other.held
        self.blocked += other.blocked


@dataclass
class BatchResult:
    counts: dict[str, ModelCounts] = field(default_factory=dict)
    #: (model name, key, action) for the ledger: subjects and login accounts
    ledger: list[tuple[str, str, str]] = field(default_factory=list)

    def model(self, name: str) -> ModelCounts:
        return self.counts.setdefault(name, ModelCounts())


def _exec(session: Session, stmt: Any) -> Any:
    """Run a core statement; the result's ``rowcount`` is what it changed."""
    return session.execute(stmt)


def _count(session: Session, model: DeclaredModel, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model.table).where(*where)) or 0)


def _pk_in(model: DeclaredModel, keys: Sequence[Any]) -> Any:
    return model.primary_key[0].in_(list(keys))


def erase_subjects(
    session: Session, plan: Plan, ids: Sequence[Any], *, count_held: bool = True
) -> BatchResult:
    """Erase what subjects ``ids`` own, except rows under a legal hold. No commit."""
    out = BatchResult()
    ids = list(ids)
    if not ids:
        return out
    resolver = plan.resolver
    subject = plan.registry.subject
    # 1. keys that must be read before anything changes
    early: dict[str, list[Any]] = {}
    for model in plan.down:
        own = resolver.ownership(model, ids)
        if plan.held(model):
            own = own & plan.expired(model)
        early[model.name] = list(session.scalars(select(model.primary_key[0]).where(own)))
    login_keys: list[Any] = []
    if plan.login_model is None:
        login_col = _login_column(plan)
        if login_col is not None:
            login_keys = [
                k
                for k in session.scalars(select(login_col).where(_pk_in(subject, ids)))
                if k is not None
            ]
    # 2. children first
    for model in plan.order:
        counts = out.model(model.name)
        if model.is_subject:
            _erase_subject_rows(session, plan, model, ids, counts, out)
            continue
        if model.name in early:
            keys = early[model.name]
            if not keys:
                continue
            own = _pk_in(model, keys)
        else:
            own = resolver.ownership(model, ids)
            if plan.held(model):
                if count_held:
                    counts.held += _count(session, model, own, ~plan.expired(model))
                own = own & plan.expired(model)
        action = plan.action(model)
        if action == "anonymise":
            vals = plan.values(model)
            if vals:
                res = _exec(
                    session, update(model.table).where(own, plan.not_anonymised(model)).values(vals)
                )
                counts.anonymised += res.rowcount
            done_keys = early.get(model.name, [])
            verb = "anonymised"
        else:
            refs = plan.referenced(model)
            if refs is not None:
                counts.blocked += _count(session, model, own, refs)
                own = own & ~refs
            res = _exec(session, delete(model.table).where(own))
            counts.deleted += res.rowcount
            done_keys = early.get(model.name, [])
            if refs is not None and done_keys:
                still = set(
                    session.scalars(select(model.primary_key[0]).where(_pk_in(model, done_keys)))
                )
                done_keys = [k for k in done_keys if k not in still]
            verb = "deleted"
        if model is plan.login_model:
            out.ledger.extend((model.name, str(k), verb) for k in done_keys)
    if login_keys:
        name = getattr(plan.state.ext.user_model, "__name__", "User")
        out.ledger.extend((name, str(k), "unlinked") for k in login_keys)
    return out


def _erase_subject_rows(
    session: Session,
    plan: Plan,
    model: DeclaredModel,
    ids: list[Any],
    counts: ModelCounts,
    out: BatchResult,
) -> None:
    pk = model.primary_key[0]
    own = pk.in_(ids)
    anonymise_ids: list[Any] = list(ids)
    if plan.action(model) == "delete":
        refs = plan.referenced(model)
        anonymise_ids = []
        if refs is not None:
            anonymise_ids = list(session.scalars(select(pk).where(own, refs)))
        gone = delete(model.table).where(own)
        if refs is not None:
            gone = gone.where(~refs)
        counts.deleted += _exec(session, gone).rowcount
        blocked = set(anonymise_ids)
        out.ledger.extend((model.name, str(k), "deleted") for k in ids if k not in blocked)
        counts.blocked += len(anonymise_ids)
    if anonymise_ids:
        vals = plan.values(model)
        if vals:
            res = _exec(
                session,
                update(model.table)
                .where(pk.in_(anonymise_ids), plan.not_anonymised(model))
                .values(vals),
            )
            counts.anonymised += res.rowcount
        out.ledger.extend((model.name, str(k), "anonymised") for k in anonymise_ids)


def _login_column(plan: Plan) -> Any:
    user_model = plan.state.ext.user_model
    if user_model is None:
        return None
    user_table = getattr(user_model, "__table__", None)
    for col in plan.registry.subject.table.columns:
        if any(fk.column.table is user_table for fk in col.foreign_keys):
            return col
    return None


def expired_batches(session: Session, plan: Plan, model: DeclaredModel, size: int) -> Any:
    """Keyset batches of the keys of ``model``'s expired rows: yields lists of keys."""
    pk = model.primary_key[0]
    last = None
    cond = plan.expired(model)
    if plan.action(model) == "anonymise":
        cond = cond & plan.not_anonymised(model)
    while True:
        stmt = select(pk).where(cond)
        if last is not None:
            stmt = stmt.where(pk > last)
        keys = list(session.scalars(stmt.order_by(pk).limit(size)))
        if not keys:
            return
        yield keys
        last = keys[-1]
        if len(keys) < size:
            return


def purge_rows(session: Session, plan: Plan, model: DeclaredModel, keys: list[Any]) -> ModelCounts:
    """Delete (or anonymise) expired rows ``keys`` of ``model``; rows still pointed to stay."""
    counts = ModelCounts()
    own = _pk_in(model, keys)
    if plan.action(model) == "anonymise":
        vals = plan.values(model)
        if vals:
            counts.anonymised = _exec(
                session, update(model.table).where(own, plan.not_anonymised(model)).values(vals)
            ).rowcount
        return counts
    refs = plan.referenced(model)
    if refs is not None:
        own = own & ~refs
    counts.deleted = _exec(session, delete(model.table).where(own)).rowcount
    counts.blocked = len(keys) - counts.deleted
    return counts
