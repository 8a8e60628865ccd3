"""Finds the rows that belong to a subject, one query per declared model.

Ownership is expressed as nested ``IN (SELECT ...)`` clauses along the model's
foreign-key paths. That form never duplicates rows (a join would, for a row
reachable twice), handles two foreign keys to the subject (sender/recipient)
and several followed paths (a comment on a post and in a thread) as an ``OR``,
and works the same for one subject or for a set of subjects given as a
subquery, so bulk operations use the very same clause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, false, literal, or_, select
from sqlalchemy.orm import Session

from flask_avg.core.registry import DeclaredModel, Hop, Path, Registry

SubjectIds = Sequence[Any] | Select[Any] | ColumnElement[Any]


class Resolver:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @property
    def subject_key(self) -> Any:
        return self.registry.subject.primary_key[0]

    def ownership(
        self,
        model: DeclaredModel,
        subject_ids: SubjectIds,
        paths: Sequence[Path] | None = None,
    ) -> ColumnElement[bool]:
        """A WHERE clause selecting the rows of ``model`` owned by ``subject_ids``.

        ``subject_ids`` is a list of subject keys or a ``Select`` of them
        (see :meth:`subjects_where`). ``paths`` narrows ownership to some of
        the model's paths (default: every followed path, OR-ed).
        """
        ids: Any
        if isinstance(subject_ids, Select | ColumnElement):
            ids = subject_ids
        else:
            ids = list(subject_ids)
            if not ids:
                return false()
        if model.is_subject:
            return _match(self.subject_key, ids)
        followed = model.paths if paths is None else paths
        clauses = [_along(path, 0, self.subject_key, ids) for path in followed]
        if not clauses:
            return false()
        return or_(*clauses) if len(clauses) > 1 else clauses[0]

    def others_own(self, model: DeclaredModel, party: str, subject_ids: SubjectIds) -> Any:
        """Rows of ``model`` that a link other than ``party`` (see
        :attr:`~flask_avg.core.registry.DeclaredModel.parties`) ties to a subject
        outside ``subject_ids``: a message's recipient who stays when its sender goes."""
        key = self.subject_key
        ids: Any = subject_ids if isinstance(subject_ids, Select) else list(subject_ids)
        clauses: list[Any] = []
        for name, paths in model.parties.items():
            if name == party:
                continue
            if all(len(p) == 1 and p[0].pairs[0][1] is key for p in paths):
                # a direct link to the subject: no need to read the subject table
                col = paths[0][0].pairs[0][0]
                clauses.append(col.is_not(None) & col.not_in(ids))
            else:
                clauses.append(self.ownership(model, select(key).where(key.not_in(ids)), paths))
        return or_(*clauses) if clauses else false()

    def select_rows(self, model: DeclaredModel, subject_ids: SubjectIds) -> Select[Any]:
        """``SELECT`` of the model's rows (ORM entities where mapped), ordered by key."""
        entity: Any = model.cls if model.cls is not None else model.table
        return select(entity).where(self.ownership(model, subject_ids)).order_by(*model.primary_key)

    def rows_for(self, session: Session, subject_id: Any) -> dict[DeclaredModel, list[Any]]:
        """Every row of every declared model that belongs to one subject.

        One query per model, models in registry order, rows in key order.
        Mapped models give ORM objects, plain tables give row mappings.
        """
        found: dict[DeclaredModel, list[Any]] = {}
        for model in self.registry:
            stmt = self.select_rows(model, [subject_id])
            if model.cls is not None:
                found[model] = list(session.scalars(stmt))
            else:
                found[model] = [dict(r) for r in session.execute(stmt).mappings()]
        return found

    def subjects_where(self, *conditions: Any) -> Select[Any]:
        """``SELECT subject.pk WHERE conditions``: a set of subjects for bulk operations."""
        return select(self.subject_key).where(*conditions)

    def owners_of(self, model: DeclaredModel, *conditions: Any) -> Select[Any]:
        """Keys of the subjects owning at least one row of ``model`` matching ``conditions``.

        Used to count the people affected by a filter (a breach, a purge).
        """
        outer = self.registry.subject.table.alias("avg_owner")
        outer_key = outer.c[self.subject_key.name]
        rows = (
            select(literal(1))
            .select_from(model.table)
            .where(*conditions, self.ownership(model, outer_key))
        )
        return select(outer_key).where(rows.exists())


def _match(col: Any, ids: Any) -> ColumnElement[bool]:
    """``col IN ids`` for a list or subquery; ``col = ids`` for a correlated column."""
    if isinstance(ids, ColumnElement) and not isinstance(ids, Select):
        return col == ids  # type: ignore[no-any-return]
    return col.in_(ids)  # type: ignore[no-any-return]


def _along(path: Sequence[Hop], i: int, subject_key: Any, ids: Any) -> ColumnElement[bool]:
    hop = path[i]
    last = i == len(path) - 1
    # a correlated subject key (owners_of) belongs to the outermost query at every depth
    outer = ids.table if isinstance(ids, ColumnElement) and not isinstance(ids, Select) else None
    clauses = []
    for src_col, dst_col in hop.pairs:
        if last and dst_col is subject_key:
            clauses.append(_match(src_col, ids))
            continue
        if last:
            sub = select(dst_col).where(_match(subject_key, ids))
        else:
            sub = select(dst_col).where(_along(path, i + 1, subject_key, ids))
        clauses.append(src_col.in_(sub if outer is None else sub.correlate(outer)))
    return or_(*clauses) if len(clauses) > 1 else clauses[0]
