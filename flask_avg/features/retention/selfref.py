"""Rows that point to rows of their own table: a reply to a message, the member
who introduced another member. Which of the rows about to go can go, and how.

* A **nullable** self-reference never keeps a row. Before the rows go, every row
  pointing to one of them gets ``NULL`` there: a kept row loses the link (another
  member's *introduced by* no longer names the erased member; a reply outlives
  its erased original), and a row that goes loses it too, so the order in which
  one ``DELETE`` removes rows never matters (MariaDB checks foreign keys row by
  row, not at the end of the statement).
* A **NOT NULL** self-reference keeps the row it points to while the pointing
  row stays, like a reference from another table. Rows pointing to one another
  that all go are deleted leaves first, one statement per level. A row pointing
  to itself, or a cycle of rows, stays: MariaDB and MySQL cannot delete it at
  all, and flask-avg behaves the same on every database.

The keys of the rows about to go are read first, since MySQL refuses a
statement that changes a table and selects from it (error 1093): one query
more per model and batch, only for tables with a self-reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from flask_avg.core.sql import key_in
from flask_avg.features.retention import engine
from flask_avg.features.retention.plan import Plan


def _pk(table: Table) -> Any:
    return list(table.primary_key.columns)[0]


@dataclass
class Going:
    """The rows of one table that can go now, in the order they must go."""

    table: Table
    #: keys by level: no row of a level is pointed to by a row of the same or a later level
    levels: list[list[Any]] = field(default_factory=list)
    #: rows asked for that stay, because a row that stays points to them
    stayed: int = 0

    @property
    def keys(self) -> list[Any]:
        return [key for level in self.levels for key in level]

    def where(self, session: Session) -> ColumnElement[bool]:
        """``pk IN (the keys that go)``."""
        return key_in(session, _pk(self.table), self.keys)


def applies(plan: Plan, table: Table) -> bool:
    return bool(plan.self_references.get(table))


def settle(session: Session, plan: Plan, table: Table, where: Any) -> Going:
    """Which rows of ``table`` matching ``where`` can go, given the rows that stay."""
    pk = _pk(table)
    keys = list(session.scalars(select(pk).where(where)))
    required = [pair for pair in plan.self_references[table] if not pair[0].nullable]
    edges = _edges(session, table, required, keys) if keys and required else []
    going = set(keys)
    while True:  # a row that stays keeps the rows it points to, and so on
        stay = {dst for src, dst in edges if dst in going and src not in going}
        if not stay:
            break
        going -= stay
    out = Going(table)
    while going:
        pointed = {dst for src, dst in edges if src in going and dst in going}
        level = [key for key in keys if key in going and key not in pointed]
        if not level:  # only rows pointing to themselves, or in a cycle, are left
            break
        out.levels.append(level)
        going -= set(level)
    out.stayed = len(keys) - len(out.keys)
    return out


def _edges(
    session: Session, table: Table, pairs: list[tuple[Any, Any]], keys: list[Any]
) -> list[tuple[Any, Any]]:
    """``(row, row it points to)`` for every NOT NULL self-reference to one of ``keys``."""
    pk = _pk(table)
    src = table.alias("avg_src")
    out: list[tuple[Any, Any]] = []
    for child, parent in pairs:
        stmt = (
            select(src.c[pk.name], pk)
            .join_from(src, table, src.c[child.name] == parent)
            .where(key_in(session, pk, keys))
        )
        out += [(row[0], row[1]) for row in session.execute(stmt)]
    return out


def delete(session: Session, plan: Plan, going: Going) -> int:
    """Unlink the nullable self-references to the rows that go, then delete them
    leaves first; returns how many rows went."""
    keys = going.keys
    if not keys:
        return 0
    table = going.table
    engine.tell_keys(plan, table, keys, "delete")
    pk = _pk(table)
    plan.drop_links(session, table, key_in(session, pk, keys))
    for child, parent in plan.self_references[table]:
        if not child.nullable:
            continue
        targets = keys
        if parent is not pk:
            targets = list(session.scalars(select(parent).where(going.where(session))))
        unlink = update(table).where(key_in(session, child, targets))
        session.execute(unlink.values({child: None}))
    n = 0
    for level in going.levels:
        stmt = sql_delete(table).where(key_in(session, pk, level))
        n += int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    return n
