"""What one purge or erasure run needs to know, worked out once: order, cut-offs, actions.

* ``order``: declared models children first (over the foreign keys between
  their tables), so a row is always gone before the row it points to.
* ``cutoff(model)``: rows whose anchor is before this date have expired
  (anchor + days < as_of; the days never below the category's legal floor).
* ``held(model)``: the model's category has a legal floor; its rows stay until
  their own retention ends, even when their subject is erased.
* ``action(model)``: "delete" or "anonymise" (the declaration, or the board's
  override stored as setting ``retention.erase.<Model>``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, DateTime, and_, delete, exists, false, null, or_, select
from sqlalchemy.schema import sort_tables
from sqlalchemy.sql.elements import ColumnElement

from flask_avg.core.converters import add_days
from flask_avg.core.presenters import retention_days
from flask_avg.core.registry import DeclaredModel
from flask_avg.features.retention import anonymise

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def erase_setting(model: DeclaredModel) -> str:
    return f"retention.erase.{model.name}"


class Plan:
    def __init__(self, state: AvgState, as_of: date, days: dict[str, int] | None = None) -> None:
        self.state = state
        self.registry = state.registry
        self.resolver = state.resolver
        self.as_of = as_of
        self.days = {
            key: max(int((days or {}).get(key, retention_days(state, key))), cat.floor_days)
            for key, cat in state.catalogue.retention.items()
        }
        models = list(self.registry)
        by_table = {m.table: m for m in models}
        self.order: list[DeclaredModel] = [
            by_table[t] for t in reversed(sort_tables(by_table)) if t in by_table
        ]
        metadata = self.registry.subject.table.metadata
        #: parent table -> [(child column, parent column)] for every FK between two tables
        self.references: dict[Any, list[tuple[Any, Any]]] = {}
        #: table -> [(column, referenced column)] for every FK to its own table
        #: (a reply to a message): handled by :mod:`.selfref`
        self.self_references: dict[Any, list[tuple[Any, Any]]] = {}
        #: parent table -> [(link table, its column, parent column)] for undeclared
        #: tables made only of foreign keys (``roles_users``): a link holds nothing
        #: but the fact that it links, so its rows go with the row they point to
        self.links: dict[Any, list[tuple[Any, Any, Any]]] = {}
        declared = {m.table for m in models}
        for table in metadata.tables.values():
            is_link = table not in declared and all(c.foreign_keys for c in table.columns)
            for fk in table.foreign_keys:
                parent = fk.column.table
                if is_link and parent is not table:
                    self.links.setdefault(parent, []).append((table, fk.parent, fk.column))
                    continue
                found = self.self_references if parent is table else self.references
                found.setdefault(parent, []).append((fk.parent, fk.column))
        #: models reached by going *down* from the subject (a login account the
        #: member points to): their keys are read before the subject changes
        self.down = [m for m in models if any(not hop.up for p in m.paths for hop in p)]
        self._actions = {
            m.name: str(state.settings.get(erase_setting(m), m.policy.erase)) for m in models
        }
        self.login_model = self._login_model()
        self._values: dict[str, dict[str, Any]] = {}

    def _login_model(self) -> DeclaredModel | None:
        user_model = self.state.user_model
        if user_model is None:
            return None
        for model in self.registry:
            if model.cls is user_model:
                return model
        return None

    # -- per model -------------------------------------------------------------
    def action(self, model: DeclaredModel) -> str:
        return self._actions[model.name]

    def category(self, model: DeclaredModel) -> Any:
        key = model.policy.retention
        return self.state.catalogue.retention[key] if key else None

    def held(self, model: DeclaredModel) -> bool:
        cat = self.category(model)
        return bool(cat is not None and cat.floor_days > 0)

    def cutoff(self, model: DeclaredModel) -> date:
        assert model.policy.retention
        return self.as_of - timedelta(days=self.days[model.policy.retention])

    def expired(self, model: DeclaredModel) -> ColumnElement[bool]:
        """Rows whose anchor + days lies before ``as_of``; a NULL anchor never expires."""
        anchor = model.anchor_column
        if anchor is None or not model.policy.retention:
            return and_(false())
        limit: Any = self.cutoff(model)
        if isinstance(anchor.type, DateTime):
            limit = datetime.combine(limit, time.min)
        return and_(anchor.is_not(None), anchor < limit)

    def left_to_rows(self, model: DeclaredModel) -> bool:
        """In a purge, the subject stage may leave ``model`` to the per-model stage.

        The subject stage deletes only the *expired* rows of a held model, and
        the per-model stage that follows deletes every expired row of it
        (children first, rows still pointed to kept): the same rows, so doing it
        twice is wasted work. Only when that stage covers the model (one-column
        key), the subject is anonymised rather than deleted (a deleted subject
        must first lose its held rows) and no login account the subject stage
        deletes is pointed to by the model.
        """
        subject = self.registry.subject
        if not self.held(model) or len(model.primary_key) != 1:
            return False
        if self.action(subject) == "delete":
            return False
        down = {m.table for m in self.down}
        return not any(fk.column.table in down for fk in model.table.foreign_keys)

    def held_until(self, model: DeclaredModel, anchor: Any) -> date | None:
        if anchor is None:
            return None
        day = anchor.date() if isinstance(anchor, datetime) else anchor
        assert model.policy.retention
        # an open-ended anchor such as 9999-12-31 is held as long as a date goes
        return add_days(day, self.days[model.policy.retention] + 1) or date.max

    def null_fks(self, model: DeclaredModel) -> tuple[str, ...]:
        """Nullable FK columns of ``model`` pointing at rows that the same run deletes."""
        targets = {m.table for m in self.down if self.action(m) == "delete"}
        return tuple(
            col.name
            for col in model.table.columns
            if col.nullable and any(fk.column.table in targets for fk in col.foreign_keys)
        )

    def _raw(self, model: DeclaredModel) -> dict[str, Any]:
        if model.name not in self._values:
            self._values[model.name] = anonymise.values(model, self.null_fks(model))
        return self._values[model.name]

    def values(self, model: DeclaredModel) -> dict[str, Any]:
        """``SET`` values anonymising a row of ``model``; a login account kept this way
        is also switched off (``active = false``, Flask-Security's and Flask-Login's
        convention), so nobody can log in with it again."""
        vals = anonymise.sql(self._raw(model))
        if model.cls is not None and model.cls is self.state.user_model:
            active = model.table.c.get("active")
            if active is not None and isinstance(active.type, Boolean) and "active" not in vals:
                vals["active"] = False
        return vals

    def party_values(self, model: DeclaredModel, party: str) -> dict[str, Any]:
        """``SET`` values removing one member from a shared row: the link ``party``
        becomes NULL, the columns declared ``personal(party=party)`` are blanked."""
        vals: dict[str, Any] = {party: null()}
        for name, spec in model.columns.items():
            value = anonymise.target(model, name) if spec.party == party else anonymise.KEEP
            if value is not anonymise.KEEP:
                vals[name] = value
        return anonymise.sql(vals)

    def not_anonymised(self, model: DeclaredModel) -> ColumnElement[bool]:
        return anonymise.not_anonymised(model, self._raw(model))

    def drop_links(self, session: Any, table: Any, where: Any) -> int:
        """Delete the undeclared link rows pointing to the rows of ``table`` matching
        ``where``, before those rows are deleted; returns how many went."""
        gone = 0
        for link, column, parent_col in self.links.get(table, ()):
            result = session.execute(
                delete(link).where(column.in_(select(parent_col).where(where)))
            )
            gone += int(getattr(result, "rowcount", 0) or 0)
        return gone

    def referenced(self, model: DeclaredModel) -> ColumnElement[bool] | None:
        """Rows of ``model`` that a row of another table still points to (and would block
        a DELETE); rows of the same table are settled by :func:`.selfref.settle`."""
        refs = self.references.get(model.table, [])
        if not refs:
            return None
        return or_(
            *(
                exists(select(child_col).where(child_col == parent_col))
                for child_col, parent_col in refs
            )
        )
