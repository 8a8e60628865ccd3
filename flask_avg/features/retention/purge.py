"""The retention purge: everything past its retention date goes, batch by batch.

Two stages, each in batches of ``AVG_PURGE_BATCH_SIZE`` (subjects in the first,
rows in the second), each batch one transaction:

1. subjects whose own anchor expired (membership ended long enough ago) are
   erased with everything they own, except rows under a legal hold;
2. per model, children first, rows whose own anchor expired (old invoices,
   old sign-ups of current members); a row other kept rows still point to
   waits for a later purge.

Then audit entries older than ``AVG_AUDIT_RETENTION_DAYS`` are dropped and,
when ``AVG_STALE_ACCOUNT_DAYS`` is set, unused login accounts of people who
are no longer members.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any

from flask import current_app
from sqlalchemy import delete, exists, or_, select, update

from flask_avg.core import external
from flask_avg.core.audit import current_actor
from flask_avg.core.config import config_value
from flask_avg.core.logins import logins_of
from flask_avg.core.plugins import EraseContext, PurgeContext
from flask_avg.core.signals import purge_completed
from flask_avg.core.subjects import lock_subjects
from flask_avg.core.types import utcnow
from flask_avg.features.acl.models import GroupMember
from flask_avg.features.retention import engine, ledger, runs, selfref
from flask_avg.features.retention.engine import ModelCounts
from flask_avg.features.retention.lock import Lock
from flask_avg.features.retention.plan import Plan
from flask_avg.features.retention.preview import estimate

#: seconds between two collections of a purge's garbage (see :func:`_end_batch`)
COLLECT_EVERY = 1.0


@dataclass
class PurgeResult:
    as_of: date
    dry_run: bool
    #: retention category -> model name -> counts
    categories: dict[str, dict[str, ModelCounts]] = field(default_factory=dict)
    audit_entries_dropped: int = 0
    stale_accounts: int = 0
    batches: int = 0
    #: rows changed since the last commit
    pending: int = 0
    #: rows each plugin erased with the expired members (``"consent.consent"``: count)
    plugin_erased: dict[str, int] = field(default_factory=dict)
    #: rows each plugin's own retention dropped (``"audit"``: old audit entries)
    plugin_rows: dict[str, int] = field(default_factory=dict)
    #: expired subjects a plugin refused to let go (the last Super User), left for a later run
    refused: int = 0
    #: subjects whose external erasure (files, ...) succeeded or failed after the run
    external_done: int = 0
    external_failed: int = 0
    #: rows (and, in the first stage, subjects) changed in all
    changed: int = 0
    #: the run's row in ``avg_purge_run`` (None for a dry run)
    run_id: int | None = None
    #: sizes the batches by time; ``sizer.history`` holds each commit's (rows, seconds)
    sizer: engine.BatchSizer | None = None
    #: when the current batch's transaction began (``perf_counter()``)
    batch_started: float = 0.0
    #: when the garbage was last collected (``perf_counter()``)
    collected: float = 0.0

    def counts(self, category: str, model: str) -> ModelCounts:
        return self.categories.setdefault(category, {}).setdefault(model, ModelCounts())

    def totals(self) -> dict[str, dict[str, int]]:
        """Per category: rows deleted, anonymised and kept (short codes and counts only)."""
        out: dict[str, dict[str, int]] = {}
        for cat, models in self.categories.items():
            t = out.setdefault(cat, {"deleted": 0, "anonymised": 0, "kept": 0})
            for c in models.values():
                t["deleted"] += c.deleted
                t["anonymised"] += c.anonymised
                t["kept"] += c.held + (c.blocked if c.anonymised == 0 else 0)
        return out


def purge(
    state: Any,
    as_of: date | None = None,
    *,
    dry_run: bool = False,
    actor: str | None = None,
    wait: float = 600.0,
    days: dict[str, int] | None = None,
    trigger: str = "api",
    run_id: int | None = None,
) -> PurgeResult:
    """Run the retention purge as of ``as_of`` (default today).

    ``dry_run`` does all the work in one transaction and rolls it back, so the
    counts are exact; ``days`` (dry runs only) tries other retention periods.
    Waits up to ``wait`` seconds for a running purge to finish, then raises
    :class:`~flask_avg.features.retention.lock.PurgeLocked`.

    A real run leaves a row in ``avg_purge_run`` (:mod:`.runs`): ``trigger`` says
    who started it (``"scheduled"``: the command from cron, ``"board"``: the
    button, ``"api"``: the host's code); ``run_id`` continues a row the caller
    queued (the button's background run). Batches are sized by time
    (``AVG_PURGE_BATCH_SECONDS``, starting from ``AVG_PURGE_BATCH_SIZE``).
    """
    as_of = as_of or date.today()
    if days is not None and not dry_run:
        raise ValueError("other retention periods can only be tried in a dry run")
    actor = actor if actor is not None else current_actor()
    sizer = engine.BatchSizer(
        int(config_value("PURGE_BATCH_SIZE")), float(config_value("PURGE_BATCH_SECONDS"))
    )
    session = state.db.session
    session.commit()
    result = PurgeResult(as_of, dry_run, sizer=sizer)
    with _frozen(), Lock(state, wait=wait) as lock:
        if not dry_run:  # the run's row, with the estimate its progress bar runs up to
            total = sum(sum(models.values()) for models in estimate(state, None, as_of).values())
            if run_id is None:
                who = None if actor == "cli" else actor
                run_id = runs.open_run(state, trigger=trigger, actor=who, as_of=as_of, total=total)
            else:
                runs.progress(session, run_id, 0, 0, total)
                session.commit()
            result.run_id = run_id
        try:
            _run(state, session, result, lock, actor, days)
        except BaseException as exc:
            session.rollback()
            if result.run_id is not None:
                try:
                    runs.fail_run(state, result.run_id, "failed", exc)
                except Exception:  # noqa: BLE001, S110 - the purge's own error matters more
                    session.rollback()
            raise
    if not dry_run:  # files, mailing lists: what this run queued, and earlier failures
        result.external_done, result.external_failed = external.run(state)
    purge_completed.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        result=result,
        dry_run=dry_run,
    )
    return result


def _run(
    state: Any,
    session: Any,
    result: PurgeResult,
    lock: Lock,
    actor: str | None,
    days: dict[str, int] | None,
) -> None:
    as_of, dry_run = result.as_of, result.dry_run
    plan = Plan(state, as_of, days)
    result.batch_started = perf_counter()
    _subjects(session, plan, result, lock)
    _rows(session, plan, result, lock)
    result.stale_accounts = _stale_accounts(session, plan, dry_run)
    _plugins(state, session, result, actor, dry_run)
    result.audit_entries_dropped = result.plugin_rows.get("audit", 0)
    detail = {
        "as_of": as_of.isoformat(),
        "dry_run": dry_run,
        "categories": result.totals(),
        "days": {k: v for k, v in plan.days.items() if k in result.categories},
        "audit_entries_dropped": result.audit_entries_dropped,
        "stale_accounts": result.stale_accounts,
        "refused": result.refused,
        "plugins": {k: v for k, v in result.plugin_rows.items() if v},
        "plugins_erased": {k: v for k, v in result.plugin_erased.items() if v},
    }
    state.audit.record("retention.purge", actor=actor, detail=detail)
    if result.audit_entries_dropped:
        state.audit.record(
            "audit.purged",
            actor=actor,
            detail={
                "dropped": result.audit_entries_dropped,
                "older_than_days": int(config_value("AUDIT_RETENTION_DAYS")),
            },
        )
    if dry_run:
        session.rollback()
        return
    if result.run_id is not None:
        runs.progress(session, result.run_id, result.changed, result.batches)
        counts = {
            "categories": result.totals(),
            "audit_entries_dropped": result.audit_entries_dropped,
            "stale_accounts": result.stale_accounts,
        }
        runs.close_run(session, result.run_id, "done", counts)
    session.commit()
    if result.sizer is not None:
        result.sizer.measured(result.pending, perf_counter() - result.batch_started)


@contextmanager
def _frozen() -> Iterator[None]:
    """Freeze the objects that exist before the purge (the app's own): the
    collection after every batch then skips them and costs about a millisecond."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _end_batch(session: Any, lock: Lock, result: PurgeResult, changed: int) -> None:
    """Commit once the batch's size is reached (rows changed since the last commit)
    or its time is up; small batches of several models share one transaction, and
    the next batch's size follows from this one's pace (:class:`~.engine.BatchSizer`)."""
    result.batches += 1
    result.pending += changed
    result.changed += changed
    sizer = result.sizer
    if result.dry_run or sizer is None:
        return
    elapsed = perf_counter() - result.batch_started
    if result.pending < sizer.size and (sizer.target <= 0 or elapsed < sizer.target):
        return
    lock.refresh(session)
    if result.run_id is not None:
        runs.progress(session, result.run_id, result.changed, result.batches)
    session.commit()
    sizer.measured(result.pending, perf_counter() - result.batch_started)
    result.pending = 0
    # A batch's statements are SQLAlchemy expression trees with reference cycles;
    # collecting them keeps memory at about a second's worth of batches, however long
    # the run (cheap: what existed before the purge is frozen, see _frozen()).
    if perf_counter() - result.collected >= COLLECT_EVERY:
        gc.collect()
        result.collected = perf_counter()
    if engine.batch_hook is not None:
        engine.batch_hook()
    result.batch_started = perf_counter()


def _subjects(session: Any, plan: Plan, result: PurgeResult, lock: Lock) -> None:
    subject = plan.registry.subject
    category = subject.policy.retention
    if not category:
        return
    cond = plan.expired(subject) & plan.not_anonymised(subject)
    for span, batch, rows in engine.key_ranges(session, subject, cond, _size(result)):
        if not result.dry_run and not result.pending:
            # the batch's transaction starts with the lock: on MariaDB a read before it
            # (the batch's bounds) would fix a view hiding the writes the lock waited for
            session.commit()
        lock_subjects(plan.state, batch)  # writes for these members take turns with the batch
        owners = span & plan.expired(subject)
        refused, read = _refused(session, plan, batch)
        known: tuple[list[str], list[str]] | None = read
        if refused:  # they stay, counted, until a later purge may take them
            result.refused += len(refused)
            batch = batch & subject.primary_key[0].not_in(refused)
            owners = owners & subject.primary_key[0].not_in(refused)
            known = None  # read again without them
        done = engine.erase_subjects(
            session,
            plan,
            batch,
            reason="retention",
            count_held=False,
            purging=True,
            owners=owners,
            read=known,
        )
        for name, counts in done.counts.items():
            result.counts(category, name).add(counts)
        for plugin, erased in done.plugins:
            key = f"{plugin.name}.{erased.name}"
            result.plugin_erased[key] = result.plugin_erased.get(key, 0) + (
                erased.removed + erased.anonymised
            )
        # the last, partial batch may share its transaction with the next stage
        _end_batch(session, lock, result, rows)


def _refused(session: Any, plan: Plan, batch: Any) -> tuple[list[Any], tuple[list[str], list[str]]]:
    """Keys of the batch's subjects a plugin will not let go now (the last Super User),
    and the batch's keys and login ids as text (read once, for the erasure too)."""
    state = plan.state
    pk = plan.registry.subject.primary_key[0]
    subjects = select(pk).where(batch)
    keys = list(session.scalars(subjects))
    if not keys:
        return [], ([], [])
    as_text = [str(k) for k in keys]
    logins = logins_of(state, subjects)
    # copies: what a plugin does with its context never changes what the erasure reads
    ctx = EraseContext(
        state, session, subjects, list(as_text), list(logins), "retention", None, plan.as_of
    )
    refused = {key for refusal in state.plugins.refuse(ctx) for key in refusal.keys}
    return [k for k, text in zip(keys, as_text, strict=True) if text in refused], (as_text, logins)


def _size(result: PurgeResult) -> Any:
    """The next batch's size: the sizer's (a dry run keeps the first size)."""
    sizer = result.sizer
    return sizer if sizer is not None else int(config_value("PURGE_BATCH_SIZE"))


def _rows(session: Any, plan: Plan, result: PurgeResult, lock: Lock) -> None:
    for model in plan.order:
        if model.is_subject or not model.policy.retention:
            continue
        if len(model.primary_key) != 1:
            continue
        cond = plan.expired(model)
        if plan.action(model) == "anonymise":
            cond = cond & plan.not_anonymised(model)
        for _span, batch, rows in engine.key_ranges(session, model, cond, _size(result)):
            counts = engine.purge_range(session, plan, model, batch, rows)
            result.counts(model.policy.retention, model.name).add(counts)
            _end_batch(session, lock, result, counts.deleted + counts.anonymised)


def _plugins(
    state: Any, session: Any, result: PurgeResult, actor: str | None, dry_run: bool
) -> None:
    """Each plugin's own retention (the audit log, consent proof, closed requests),
    counted from the real time: ``as_of`` moves member data, never the log."""
    ctx = PurgeContext(state, session, result.as_of, utcnow(), dry_run, actor)
    for plugin in state.plugins:
        result.plugin_rows[plugin.name] = plugin.purge(ctx)


def _stale_accounts(session: Any, plan: Plan, dry_run: bool) -> int:
    """Login accounts unused for ``AVG_STALE_ACCOUNT_DAYS`` and not linked to a current member."""
    days = int(config_value("STALE_ACCOUNT_DAYS"))
    user_model: Any = plan.state.user_model
    if days <= 0 or user_model is None:
        return 0
    table = user_model.__table__
    last_login = table.c.get("last_login")
    if last_login is None:
        return 0
    pk = list(table.primary_key.columns)[0]
    limit = datetime.combine(plan.as_of - timedelta(days=days), time.min)
    subject = plan.registry.subject
    links = [
        c for c in subject.table.columns if any(fk.column.table is table for fk in c.foreign_keys)
    ]
    # never an account with a role in flask-avg's ACL (the board, the admin)
    roles = []
    for key in session.scalars(select(GroupMember.user_id).distinct()):
        try:
            roles.append(pk.type.python_type(key))
        except (TypeError, ValueError):
            continue
    cond = [or_(last_login.is_(None), last_login < limit)]
    if roles:
        cond.append(pk.not_in(roles))
    anchor = subject.anchor_column
    for link in links:
        current = select(link).where(link.is_not(None))
        if anchor is not None:
            current = current.where(or_(anchor.is_(None), anchor >= plan.as_of))
        cond.append(~pk.in_(current))
    keys = list(session.scalars(select(pk).where(*cond)))
    if not keys:
        return 0
    gone: list[Any] = []
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        for link in links:
            session.execute(update(subject.table).where(link.in_(chunk)).values({link.name: None}))
        refs = plan.references.get(table, [])
        unused = pk.in_(chunk)
        for child_col, parent_col in refs:
            unused = unused & ~exists(select(child_col).where(child_col == parent_col))
        if selfref.applies(plan, table):
            selfref.delete(session, plan, selfref.settle(session, plan, table, unused))
        else:
            engine.tell(session, plan, table, unused, "delete")
            session.execute(delete(table).where(unused))
        # an account kept rows still point to stays: the ledger names only those that went
        left = set(session.scalars(select(pk).where(pk.in_(chunk))))
        gone += [k for k in chunk if k not in left]
    name = user_model.__name__
    ledger.record(session, [(name, str(k), "deleted") for k in gone], "stale")
    return len(gone)
