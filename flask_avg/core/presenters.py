"""Turns resolved rows into what pages and exports show: grouped, labelled, filtered.

Pages (self-service, the board's member view) and the exporters read the same
:class:`SubjectData`, so what a member sees and what they can download never
drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Select, String, or_, select

from flask_avg.core.converters import MAX_DAYS, add_days, in_id_range
from flask_avg.core.declarations import LEGAL_BASES, Personal
from flask_avg.core.i18n import localise
from flask_avg.core.registry import DeclaredModel

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@dataclass
class Field:
    name: str
    label: Any
    spec: Personal
    value: Any


@dataclass
class Record:
    key: tuple[Any, ...]
    fields: list[Field]


@dataclass
class ModelData:
    model: DeclaredModel
    records: list[Record]
    deletion_date: date | None = None

    @property
    def deletion_due(self) -> bool:
        """The deletion date has come: the rows go at the next purge (never a past date)."""
        return self.deletion_date is not None and self.deletion_date <= date.today()


@dataclass
class CategoryGroup:
    key: str
    label: Any
    special: bool
    purposes: list[str] = field(default_factory=list)
    bases: list[Any] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


@dataclass
class SubjectData:
    subject: Any
    subject_id: Any
    models: list[ModelData]
    categories: list[CategoryGroup]


def column_label(model: DeclaredModel, name: str) -> Any:
    spec = model.columns.get(name)
    if spec is not None and spec.label:
        return localise(spec.label)
    return name.replace("_", " ").capitalize()


def retention_days(state: AvgState, category: str) -> int:
    """Days kept for a retention category: the board's setting, never below its legal floor."""
    cat = state.catalogue.retention[category]
    days = state.settings.get(f"retention.{category}.days", cat.default_days)
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = cat.default_days
    # a setting stored by older code may exceed what a date can count to
    return max(min(days, MAX_DAYS), cat.floor_days)


def collect(state: AvgState, subject: Any, *, special: bool) -> SubjectData:
    """Everything held on ``subject``; special-category fields only when ``special``."""
    registry = state.registry
    subject_id = registry.subject.value(subject, registry.subject.primary_key[0].name)
    rows = state.resolver.rows_for(state.db.session, subject_id)
    models: list[ModelData] = []
    groups: dict[str, CategoryGroup] = {}
    for model, found in rows.items():
        columns = {
            name: spec
            for name, spec in model.columns.items()
            if not spec.secret and (special or not spec.special)
        }
        if not columns:
            continue
        records = [
            Record(
                key=model.key_of(row),
                fields=[
                    Field(name, column_label(model, name), spec, model.value(row, name))
                    for name, spec in columns.items()
                ],
            )
            for row in found
        ]
        models.append(ModelData(model, records, _deletion_date(state, model, found)))
        for spec in columns.values():
            cat = state.catalogue.categories[spec.category]
            grp = groups.setdefault(spec.category, CategoryGroup(cat.key, cat.label, cat.special))
            _add(grp.purposes, localise(spec.purpose))
            _add(grp.bases, LEGAL_BASES.get(spec.basis) if spec.basis else None)
            for recipient in spec.recipients:
                _add(grp.recipients, localise(recipient))
            _add(grp.models, str(localise(model.label)))
    return SubjectData(subject, subject_id, models, list(groups.values()))


def _add(items: list[Any], value: Any) -> None:
    if value is not None and value not in items:
        items.append(value)


def _deletion_date(state: AvgState, model: DeclaredModel, rows: list[Any]) -> date | None:
    """When the oldest row of this model will be deleted under today's settings."""
    if not model.policy.retention or not model.policy.anchor or not rows:
        return None
    anchors = [model.value(r, model.policy.anchor) for r in rows]
    known = [a.date() if isinstance(a, datetime) else a for a in anchors if a is not None]
    if not known:
        return None
    # None (shown as "–") when past what a date holds, e.g. an open end of 9999-12-31
    return add_days(min(known), retention_days(state, model.policy.retention))


def app_name() -> str:
    return str(current_app.config.get("AVG_CLUB_NAME") or current_app.name)


def member_list_query(state: AvgState, columns: list[str], query: str = "") -> Select[Any]:
    """The board's member list: key and ``columns``, text columns filtered by ``query``.

    One definition for the page (``/avg/members?q=``) and the list export, so both
    always find the same members.
    """
    subject = state.registry.subject
    table = subject.table
    stmt = select(subject.primary_key[0], *(table.c[name] for name in columns))
    query = query.strip()
    if query:
        text_cols = [table.c[n] for n in columns if isinstance(table.c[n].type, String)]
        if text_cols:
            stmt = stmt.where(or_(*(c.ilike(f"%{query}%") for c in text_cols)))
    return stmt.order_by(*subject.primary_key)


def subject_or_404(state: AvgState, subject_id: str) -> Any:
    """The member with the key given in a URL, or a 404 (also for a key of the wrong type)."""
    from flask import abort

    subject_model = state.registry.subject
    key = subject_model.primary_key[0]
    try:
        typed = key.type.python_type(subject_id)
    except (TypeError, ValueError, NotImplementedError):
        abort(404)
    # 25 digits fit a Python int but no database column: an error there, a 404 here
    if isinstance(typed, int) and not in_id_range(typed, key.type):
        abort(404)
    if isinstance(typed, str) and ("\x00" in typed or len(typed) > 255):
        abort(404)
    subject = state.db.session.get(subject_model.cls, typed)
    if subject is None:
        abort(404)
    return subject
