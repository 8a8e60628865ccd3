"""The set-based core shared by the purge and by erasing one member.

:func:`erase_subjects` removes everything a batch of subjects owns, in one
transaction (the caller commits): one ``DELETE`` or ``UPDATE`` per model,
children before parents, ownership expressed by the resolver's nested ``IN``
clauses over the batch's subjects. A batch is a condition on the subject table
(a key range of expired members, or a list of keys). Statements on the subject
table use that condition directly, never a subquery on the same table
(MariaDB error 1093); the keys of models reached *down* from the subject (its
login account) are read first, before the subject row loses its pointer to
them. Ledger rows are written with ``INSERT ... SELECT``, before the rows they
name change. A row of a ``ModelPolicy(shared="keep")`` model that also belongs
to a member outside the batch stays: the batch's links in it become NULL.

:func:`purge_range` removes the expired rows of one model in a key range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from flask_avg.core import external
from flask_avg.core.logins import login_column, logins_of
from flask_avg.core.plugins import EraseContext, Erased, Plugin
from flask_avg.core.registry import DeclaredModel
from flask_avg.core.registry import branches as path_branches
from flask_avg.core.sql import key_in
from flask_avg.core.stamps import ERASURE, bump
from flask_avg.core.types import UTCDateTime, utcnow
from flask_avg.features.retention import selfref
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.plan import Plan

#: Called after every committed batch (tests slow it down to kill a purge mid-run).
batch_hook: Callable[[], None] | None = None

LEDGER: Any = LedgerEntry.__table__


@dataclass
class ModelCounts:
    deleted: int = 0
    anonymised: int = 0
    #: rows kept under a legal hold
    held: int = 0
    #: rows kept (or, for the subject, anonymised) because other kept rows point to them
    blocked: int = 0
    #: rows kept for another member, the erased member's link removed (``shared="keep"``;
    #: once per link, should two erased members leave a third's row)
    unlinked: int = 0

    def add(self, other: ModelCounts) -> None:
        self.deleted += other.deleted
        self.anonymised += other.anonymised
        self.held += other.held
        self.blocked += other.blocked
        self.unlinked += other.unlinked


@dataclass
class BatchResult:
    counts: dict[str, ModelCounts] = field(default_factory=dict)
    #: ledger rows written: (model name, action) -> how many
    ledger: dict[tuple[str, str], int] = field(default_factory=dict)
    #: login ids erased in this batch (only filled for small batches: one member)
    logins: list[str] = field(default_factory=list)
    #: what each plugin's erase did
    plugins: list[tuple[Plugin, Erased]] = field(default_factory=list)

    def model(self, name: str) -> ModelCounts:
        return self.counts.setdefault(name, ModelCounts())


def _exec(session: Session, stmt: Any) -> int:
    """Run a core statement; returns how many rows it changed."""
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def tell(session: Session, plan: Plan, table: Any, where: Any, action: str) -> None:
    """Tell the host's ``@avg.before_erase`` hooks which keys of ``table`` go (or are
    anonymised) in this batch, before the statement runs. Costs a query only for
    tables that have a hook. Rows about to be deleted or anonymised lose their
    undeclared links (``roles_users``) first: a link says something about the
    person, and would keep a row from being deleted."""
    if action in ("delete", "anonymise"):
        plan.drop_links(session, table, where)
    if plan.state.ext._erase_hooks.get(table):
        pk = list(table.primary_key.columns)
        if len(pk) == 1:
            keys = list(session.scalars(select(pk[0]).where(where)))
        else:  # a composite key is told as tuples, in primary-key column order
            keys = [tuple(row) for row in session.execute(select(*pk).where(where))]
        tell_keys(plan, table, keys, action)


def tell_keys(plan: Plan, table: Any, keys: list[Any], action: str) -> None:
    """Call the hooks of ``table`` with keys already known (``"delete"`` or ``"anonymise"``)."""
    for hook in plan.state.ext._erase_hooks.get(table, ()):
        if keys:
            hook(keys, action)


def _count(session: Session, model: DeclaredModel, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model.table).where(*where)) or 0)


def _ledger(
    session: Session, model_name: str, key: Any, where: Any, action: str, reason: str
) -> int:
    """``INSERT INTO avg_erasure_ledger SELECT ...``: one row per key matching ``where``."""
    source = select(
        literal(model_name, String),
        cast(key, String(64)),
        literal(action, String),
        literal(reason, String),
        literal(utcnow(), UTCDateTime),
    ).where(where)
    stmt = insert(LEDGER).from_select(["model", "key", "action", "reason", "at"], source)
    done = _exec(session, stmt)
    if done:
        bump(session, ERASURE)  # cached ledger answers of every process are stale now
    return done


def by_keys(plan: Plan, ids: Sequence[Any]) -> ColumnElement[bool]:
    """A batch given as a list of subject keys."""
    return plan.registry.subject.primary_key[0].in_(list(ids))


def erase_subjects(
    session: Session,
    plan: Plan,
    batch: ColumnElement[bool],
    *,
    reason: str,
    count_held: bool = True,
    purging: bool = False,
    owners: ColumnElement[bool] | None = None,
    actor: str | None = None,
    read: tuple[list[str], list[str]] | None = None,
) -> BatchResult:
    """Erase what the subjects matching ``batch`` own, except rows under a legal hold.

    ``batch`` is a condition on the subject table. ``owners``, when given, is a
    cheaper condition selecting the same subjects for the ownership subqueries
    (it may also match subjects erased before: they own nothing any more).
    ``purging``: the caller's per-model stage follows and deletes the expired
    held rows (see :meth:`Plan.left_to_rows`).
    Every plugin erases what it holds on these subjects first, and the external
    erasures they owe are queued. ``read``: the subjects' keys and login ids as
    text, when the caller read them in this transaction already (the purge's
    refusal check), saving the two queries. Writes the ledger; does not commit.
    """
    out = BatchResult()
    resolver = plan.resolver
    subject = plan.registry.subject
    pk = subject.primary_key[0]
    # 0. the plugins, while the subjects' rows (and links to their logins) are intact
    state = plan.state
    subjects = select(pk).where(batch)
    if read is not None:
        as_text, logins = read
    else:
        as_text = [str(k) for k in session.scalars(subjects)]
        logins = logins_of(state, subjects) if as_text else []
    if as_text:
        ctx = EraseContext(state, session, subjects, as_text, logins, reason, actor, plan.as_of)
        out.plugins = state.plugins.erase(ctx)
        external.queue(state, session, select(cast(pk, String(64))).where(batch), reason)
    ids = select(pk).where(owners if owners is not None else batch)
    # 1. what must be read before anything changes: keys of models reached down
    early: dict[str, list[Any]] = {}
    for model in plan.down:
        own = resolver.ownership(model, ids)
        if plan.held(model):
            own = own & plan.expired(model)
        early[model.name] = list(session.scalars(select(model.primary_key[0]).where(own)))
        if model.cls is plan.state.user_model and early[model.name]:
            out.logins = [str(k) for k in early[model.name][:100]]
            if plan.action(model) == "anonymise":  # deleted ones: see _login_rows
                # the keys are known now: no need to run the ownership subqueries again
                known = key_in(session, model.primary_key[0], early[model.name])
                n = _ledger(session, model.name, model.primary_key[0], known, "anonymised", reason)
                out.ledger[(model.name, "anonymised")] = n
    if plan.login_model is None:
        login_col = login_column(plan.state)
        if login_col is not None:
            name = getattr(plan.state.user_model, "__name__", "User")
            where = batch & login_col.is_not(None)
            out.ledger[(name, "unlinked")] = _ledger(
                session, name, login_col, where, "unlinked", reason
            )
            out.logins = [
                str(k) for k in session.scalars(select(login_col).where(where).limit(100))
            ]
    # 2. children first
    for model in plan.order:
        if purging and not model.is_subject and plan.left_to_rows(model):
            continue
        counts = out.model(model.name)
        if model.is_subject:
            _subject_rows(session, plan, model, batch, counts, out, reason)
            continue
        if model.name in early:
            keys = early[model.name]
            if not keys:
                continue
            own = key_in(session, model.primary_key[0], keys)
        else:
            own = resolver.ownership(model, ids)
            if plan.held(model):
                if count_held:
                    counts.held += _count(session, model, own, ~plan.expired(model))
                own = own & plan.expired(model)
            if model.policy.shared == "keep":
                counts.unlinked += _unlink_shared(session, plan, model, ids)
        # Two foreign keys to the subject (sender, recipient), or several paths,
        # make an OR that no index serves: one statement per branch instead.
        branches = [own] if model.name in early else _branches(plan, model, ids)
        if plan.action(model) == "anonymise":
            vals = plan.values(model)
            for branch in branches if vals else []:
                cond = branch & plan.not_anonymised(model)
                tell(session, plan, model.table, cond, "anonymise")
                counts.anonymised += _exec(session, update(model.table).where(cond).values(vals))
            continue
        refs = plan.referenced(model)
        if refs is not None and count_held and model.name not in early:
            counts.blocked += _count(session, model, own, refs)
        if model is plan.login_model and model.name in early:
            _login_rows(session, plan, model, early[model.name], counts, out, reason)
            counts.blocked += len(early[model.name]) - counts.deleted
            continue
        if selfref.applies(plan, model.table):
            going = selfref.settle(session, plan, model.table, _unreferenced(or_(*branches), refs))
            counts.deleted += selfref.delete(session, plan, going)
            early_keys = early.get(model.name)
            counts.blocked += (
                going.stayed if early_keys is None else len(early_keys) - counts.deleted
            )
            continue
        for branch in branches:
            cond = _unreferenced(branch, refs)
            tell(session, plan, model.table, cond, "delete")
            counts.deleted += _exec(session, delete(model.table).where(cond))
        if model.name in early and refs is not None:
            counts.blocked += len(early[model.name]) - counts.deleted
    return out


def _unreferenced(where: Any, refs: ColumnElement[bool] | None) -> Any:
    return where & ~refs if refs is not None else where


def _login_rows(
    session: Session,
    plan: Plan,
    model: DeclaredModel,
    keys: list[Any],
    counts: ModelCounts,
    out: BatchResult,
    reason: str,
) -> None:
    """Delete the batch's login accounts, with ledger rows for those that go.

    The ledger row is written with the DELETE's own condition, just before it
    (the subject no longer points to the account by then). An account that
    kept rows still point to (the board's notes it wrote) is anonymised
    instead, like a subject: the ledger says so rather than claim a deletion
    that did not happen, and the login guard still ends its sessions.
    """
    pk = model.primary_key[0]
    own = key_in(session, pk, keys)
    gone: Any = _unreferenced(own, plan.referenced(model))
    going = None
    if selfref.applies(plan, model.table):
        going = selfref.settle(session, plan, model.table, gone)
        gone = going.where(session)
    out.ledger[(model.name, "deleted")] = _ledger(session, model.name, pk, gone, "deleted", reason)
    if going is not None:
        counts.deleted += selfref.delete(session, plan, going)
    else:
        tell(session, plan, model.table, gone, "delete")
        counts.deleted += _exec(session, delete(model.table).where(gone))
    vals = plan.values(model)
    if vals and counts.deleted < len(keys):  # the accounts left are the kept ones
        n = _ledger(session, model.name, pk, own, "anonymised", reason)
        out.ledger[(model.name, "anonymised")] = n
        cond = own & plan.not_anonymised(model)
        tell(session, plan, model.table, cond, "anonymise")
        counts.anonymised += _exec(session, update(model.table).where(cond).values(vals))


def _branches(plan: Plan, model: DeclaredModel, ids: Any) -> list[Any]:
    """The ownership clause of ``model`` split into one clause per followed path and
    per foreign key of its first hop, held rows left out."""
    out = []
    for branch in path_branches(model.paths):
        clause = plan.resolver.ownership(model, ids, [branch])
        if plan.held(model):
            clause = clause & plan.expired(model)
        out.append(clause)
    return out


def _unlink_shared(session: Session, plan: Plan, model: DeclaredModel, ids: Any) -> int:
    """``shared="keep"``: rows the batch's subjects share with a member who stays keep
    existing for that member; the batch's links in them become NULL and the columns
    declared ``personal(party=...)`` for those links are blanked. One ``UPDATE`` per
    link; the rows left owned by the batch alone go as usual afterwards."""
    n = 0
    for party, paths in model.parties.items():
        mine = plan.resolver.ownership(model, ids, paths)
        if plan.held(model):
            mine = mine & plan.expired(model)
        others = plan.resolver.others_own(model, party, ids)
        tell(session, plan, model.table, mine & others, "unlink")
        stmt = update(model.table).where(mine, others).values(plan.party_values(model, party))
        n += _exec(session, stmt)
    return n


def _subject_rows(
    session: Session,
    plan: Plan,
    model: DeclaredModel,
    batch: ColumnElement[bool],
    counts: ModelCounts,
    out: BatchResult,
    reason: str,
) -> None:
    pk = model.primary_key[0]
    anonymise_where: Any = batch
    going = None
    if plan.action(model) == "delete":
        refs = plan.referenced(model)
        keep = refs if refs is not None else None
        if selfref.applies(plan, model.table):
            # a subject another kept subject points to (NOT NULL) stays, anonymised
            going = selfref.settle(session, plan, model.table, _unreferenced(batch, keep))
            stay = ~going.where(session)
            keep = stay if keep is None else keep | stay
        gone_where = batch & ~keep if keep is not None else batch
        out.ledger[(model.name, "deleted")] = _ledger(
            session, model.name, pk, gone_where, "deleted", reason
        )
        if keep is not None:
            anonymise_where = batch & keep
            counts.blocked += _count(session, model, anonymise_where)
        else:
            anonymise_where = None
    if anonymise_where is not None:
        vals = plan.values(model)
        out.ledger[(model.name, "anonymised")] = _ledger(
            session, model.name, pk, anonymise_where, "anonymised", reason
        )
        if vals:
            # the purge's batch already skips anonymised subjects; anonymising twice is harmless
            tell(session, plan, model.table, anonymise_where, "anonymise")
            stmt = update(model.table).where(anonymise_where)
            counts.anonymised += _exec(session, stmt.values(vals))
    if going is not None:
        counts.deleted += selfref.delete(session, plan, going)
    elif plan.action(model) == "delete":
        tell(session, plan, model.table, gone_where, "delete")
        counts.deleted += _exec(session, delete(model.table).where(gone_where))


def key_ranges(
    session: Session,
    model: DeclaredModel,
    cond: ColumnElement[bool],
    size: int | Callable[[], int],
) -> Any:
    """Keyset batches over rows matching ``cond``: yields ``(span, cond & span, rows)``
    where ``span`` is ``lo <= pk <= hi`` and ``rows`` how many rows match
    (``size``, fewer in the last batch). ``size`` may be a callable, asked before
    every batch (the purge's batches sized by time, see :class:`BatchSizer`).

    Only the batch's bounds are read, never the keys themselves: one query per
    batch gives its last key and the next batch's first. Every batch has the
    same SQL shape (the bounds are parameters), so the statement cache holds the
    same entries for a run of one batch as for a run of thousands.
    """
    pk = model.primary_key[0]
    lo = session.scalar(select(func.min(pk)).where(cond))
    while lo is not None:
        n = max(1, size() if callable(size) else size)
        from_lo = cond & (pk >= lo)
        edge = session.scalars(select(pk).where(from_lo).order_by(pk).offset(n - 1).limit(2))
        hi, nxt, *_ = [*edge, None, None]
        rows = n
        if hi is None:  # the last batch, shorter than the others
            hi, rows = session.execute(select(func.max(pk), func.count()).where(from_lo)).one()
        span = (pk >= lo) & (pk <= hi)
        yield span, cond & span, rows
        lo = nxt


class BatchSizer:
    """Batches sized by time: each commit reports how many rows (or subjects) its
    transaction changed and how long it took, and the next batch is sized to take
    about ``target`` seconds at that pace.

    The first batch holds ``start`` rows. A step changes the size by at most four
    times up or down (one slow batch, a checkpoint, does not collapse it) and
    never below :attr:`MIN`. ``target <= 0`` keeps every batch at ``start``.
    """

    MIN = 10
    MAX = 1_000_000

    def __init__(self, start: int, target: float) -> None:
        self.size = max(1, int(start))
        self.target = float(target)
        #: (rows, seconds) of every measured batch, for benchmarks and tests
        self.history: list[tuple[int, float]] = []

    def __call__(self) -> int:
        return self.size

    def measured(self, rows: int, seconds: float) -> None:
        if rows <= 0:
            return
        self.history.append((rows, seconds))
        if self.target <= 0:
            return
        if rows < self.size and seconds < self.target:
            return  # a short last batch says little about the pace
        ideal = rows * self.target / max(seconds, 1e-6)
        low, high = self.size / 4, self.size * 4
        self.size = int(min(max(ideal, low, self.MIN), high, self.MAX))


def purge_range(
    session: Session,
    plan: Plan,
    model: DeclaredModel,
    where: ColumnElement[bool],
    rows: int,
) -> ModelCounts:
    """Delete (or anonymise) expired rows of ``model`` matching ``where``; rows still
    pointed to by kept rows stay for a later purge.

    ``rows`` is how many rows match ``where`` (:func:`key_ranges` counts them):
    the kept ones are counted without a query.
    """
    counts = ModelCounts()
    if plan.action(model) == "anonymise":
        vals = plan.values(model)
        if vals:
            cond = where & plan.not_anonymised(model)
            tell(session, plan, model.table, cond, "anonymise")
            counts.anonymised = _exec(session, update(model.table).where(cond).values(vals))
        return counts
    refs = plan.referenced(model)
    if selfref.applies(plan, model.table):
        going = selfref.settle(session, plan, model.table, _unreferenced(where, refs))
        counts.deleted = selfref.delete(session, plan, going)
    else:
        cond = _unreferenced(where, refs)
        tell(session, plan, model.table, cond, "delete")
        counts.deleted = _exec(session, delete(model.table).where(cond))
    counts.blocked = rows - counts.deleted
    return counts
