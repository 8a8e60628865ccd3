"""Checking the audit log's hash chain, and purging it without breaking it.

The chain is written by the kernel (:mod:`flask_avg.core.audit`). This module walks
it (``flask avg audit verify``) and names the first entry that was edited, removed,
inserted or reordered; and it drops old entries for the retention purge, leaving a
checkpoint entry that names the last hash removed, so what remains still verifies.

What this proves: nobody changed, removed, added or moved single entries without
rewriting every later hash. What it does not: someone with full database access
can rewrite the whole chain from the point they changed onwards. A chain head kept
outside the database (``flask avg audit head -o FILE``, or with the erasure
ledger's export) catches that: ``verify --head FILE`` fails when the chain no
longer holds the exported link.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from flask_avg.core.audit import GENESIS, link
from flask_avg.core.models import AuditEntry
from flask_avg.core.types import utcnow

CHECKPOINT = "audit.checkpoint"
_CONTENT = ("at", "actor", "action", "outcome", "subject", "model", "fields", "detail_json", "ip")


@dataclass
class Problem:
    """The first break in the chain: ``kind`` is edited, removed, inserted, reordered
    or head; ``entry`` the id of the entry where it shows."""

    kind: str
    entry: int | None
    message: str


@dataclass
class Verification:
    checked: int = 0
    legacy: int = 0
    head: dict[str, Any] = field(default_factory=dict)
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _rows(session: Session, batch: int = 2000) -> Any:
    """Every entry in id order, in batches (keyset pagination: no long cursor)."""
    table: Any = AuditEntry.__table__
    cols = [table.c.id, table.c.prev_hash, table.c.hash, *(table.c[n] for n in _CONTENT)]
    last = None
    while True:
        stmt = select(*cols).order_by(table.c.id).limit(batch)
        if last is not None:
            stmt = stmt.where(table.c.id > last)
        rows = session.execute(stmt).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def _index(session: Session) -> tuple[dict[str, int], set[str]]:
    """Hash -> entry id for the whole log, and the hashes checkpoints vouch for."""
    table: Any = AuditEntry.__table__
    hashes: dict[str, int] = {}
    for entry_id, value in session.execute(
        select(table.c.id, table.c.hash).where(table.c.hash.is_not(None))
    ):
        hashes[value] = entry_id
    vouched: set[str] = set()
    for (detail,) in session.execute(
        select(table.c.detail_json).where(table.c.action == CHECKPOINT)
    ):
        try:
            last = json.loads(detail or "{}").get("last_hash")
        except ValueError:
            continue
        if isinstance(last, str):
            vouched.add(last)
    return hashes, vouched


def verify(session: Session, head: dict[str, Any] | None = None) -> Verification:
    """Walk the chain from its first entry; stop at the first break.

    Entries written before the chain existed (no hash, at the very start) are
    counted as ``legacy`` and not checked. ``head`` is an exported
    :func:`~flask_avg.core.audit.chain_head`: the chain must still hold it.
    """
    hashes, vouched = _index(session)
    result = Verification()
    expected: str | None = None  # the hash the next entry must link to
    before: str | None = None  # the hash one further back (to tell an insertion)
    pending: Any = None  # an entry whose own hash failed, judged by its successor
    last_good: Any = None
    for row in _rows(session):
        if expected is None and row.hash is None and pending is None:
            result.legacy += 1
            continue
        if pending is not None:
            kind = "inserted" if row.prev_hash == expected else "edited"
            return _fail(result, kind, pending.id)
        result.checked += 1
        own_ok = row.hash is not None and link(row.prev_hash or "", row) == row.hash
        if expected is None:  # the first sealed entry: the genesis or a checkpoint
            if row.prev_hash != GENESIS and row.prev_hash not in vouched and own_ok:
                return _fail(result, "removed", row.id)
            if not own_ok:
                pending, expected = row, row.prev_hash
                continue
        elif not own_ok:
            pending = row
            continue
        elif row.prev_hash != expected:
            if before is not None and row.prev_hash == before:
                return _fail(result, "inserted", last_good.id)
            if row.prev_hash not in hashes:
                return _fail(result, "removed", row.id)
            return _fail(result, "reordered", row.id)
        before, expected, last_good = expected, row.hash, row
    if pending is not None:
        return _fail(result, "edited", pending.id)
    result.head = {"id": getattr(last_good, "id", None), "hash": expected or GENESIS}
    held = head is None or head.get("id") is None or hashes.get(str(head["hash"])) == head["id"]
    if not held:
        return _fail(result, "head", head["id"] if head else None)
    return result


_MESSAGES = {
    "edited": "entry {id} was edited (its hash no longer matches its content)",
    "inserted": "entry {id} was inserted (the chain runs past it)",
    "removed": "entries before entry {id} were removed (it links to a hash no entry has)",
    "reordered": "entry {id} was moved (it links to an entry elsewhere in the log)",
    "head": "the exported head (entry {id}) is not in the chain: the log was rewritten "
    "or truncated since it was exported",
}


def _fail(result: Verification, kind: str, entry_id: int | None) -> Verification:
    result.problem = Problem(kind, entry_id, _MESSAGES[kind].format(id=entry_id))
    return result


def purge(session: Session, cutoff: datetime) -> int:
    """Drop the oldest entries up to the first one at or after ``cutoff`` and append
    a checkpoint naming the last hash dropped; returns how many went."""
    table: Any = AuditEntry.__table__
    first_kept = session.scalar(select(func.min(table.c.id)).where(table.c.at >= cutoff))
    old = table.c.at < cutoff if first_kept is None else table.c.id < first_kept
    through = session.scalar(select(func.max(table.c.id)).where(old))
    if through is None:
        return 0
    last_hash = session.scalar(
        select(table.c.hash)
        .where(table.c.id <= through, table.c.hash.is_not(None))
        .order_by(table.c.id.desc())
        .limit(1)
    )
    gone = session.execute(delete(table).where(table.c.id <= through))
    removed = int(getattr(gone, "rowcount", 0) or 0)
    detail = {"removed": removed, "through": through, "last_hash": last_hash or GENESIS}
    session.add(
        AuditEntry(
            at=utcnow(),
            action=CHECKPOINT,
            outcome="ok",
            detail_json=json.dumps(detail, sort_keys=True),
        )
    )
    session.flush()
    return removed


def register_commands(group: Any) -> None:
    """``flask avg audit verify`` and ``flask avg audit head``."""
    import click
    from flask import current_app

    from flask_avg.core.audit import chain_head, write_chain_head

    @group.group("audit")
    def audit_group() -> None:
        """The audit log's hash chain."""

    @audit_group.command("verify")
    @click.option(
        "--head",
        "head_file",
        type=click.Path(exists=True, dir_okay=False),
        help="A head written by 'flask avg audit head -o FILE': the chain must still hold it.",
    )
    def verify_command(head_file: str | None) -> None:
        """Walk the chain; report the first entry edited, removed, inserted or moved.

        Exit code 1 when the chain is broken.
        """
        head = None
        if head_file:
            try:
                with open(head_file, encoding="utf-8") as fh:
                    head = json.load(fh)
                if head.get("id") is not None:
                    head["id"] = int(head["id"])
                head["hash"] = str(head["hash"])
            except (ValueError, KeyError, TypeError, AttributeError):
                raise click.ClickException(f"{head_file} is not an audit chain head") from None
        session = current_app.extensions["avg"].db.session
        result = verify(session, head)
        if result.legacy:
            click.echo(f"{result.legacy} entries from before the chain (not checked)")
        if result.problem is not None:
            click.echo(
                f"audit chain BROKEN after {result.checked} entries: {result.problem.message}"
            )
            raise SystemExit(1)
        click.echo(
            f"audit chain intact: {result.checked} entries, head "
            f"{result.head.get('id')} {result.head.get('hash')}"
        )

    @audit_group.command("head")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True))
    def head_command(output: str | None) -> None:
        """Print (or write to a file) the chain's newest link, to keep outside the database."""
        session = current_app.extensions["avg"].db.session
        head = write_chain_head(output, session) if output else chain_head(session)
        click.echo(json.dumps(head, sort_keys=True))
