"""One member's export as a format-neutral document, built from the pages' own data.

:func:`build` reads :func:`flask_avg.core.presenters.collect`, the same function the
self-service page and the board's member view use, so what is shown and what
is downloaded never drift apart. Writers (:mod:`.writers`) only lay it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask_avg.core.i18n import domain, with_nouns
from flask_avg.core.logins import logins_of
from flask_avg.core.plugins import SubjectContext
from flask_avg.core.presenters import SubjectData, app_name, collect, column_label, retention_days
from flask_avg.core.registry import DeclaredModel
from flask_avg.core.types import utcnow

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: Version of the JSON export's layout; see ``schema-v1.json`` next to this module.
SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://flask-avg.readthedocs.io/schema/export-v1.json"


def translator() -> Callable[..., str]:
    """``gettext`` bound to the current request's catalogue, looked up once.

    An export translates a hundred or so labels; fetching the catalogue for
    each through Flask-Babel's context would cost more than writing the cells.
    """
    catalogue = domain.get_translations()

    def gettext(text: str, **variables: Any) -> str:
        found = catalogue.gettext(text)
        variables = with_nouns(text, variables)
        return found % variables if variables else found

    return gettext


def translated(label: Any, _: Callable[..., str] | None = None) -> str:
    """A label in the current language: lazy strings render, host strings are looked up."""
    text = str(label)
    if not text:
        return text
    return (_ or translator())(text)


@dataclass
class ExportColumn:
    name: str
    label: str
    category: str
    type: str
    special: bool


@dataclass
class ExportTable:
    """One declared model's rows for the subject."""

    name: str
    label: str
    columns: list[ExportColumn]
    keys: list[list[Any]]
    rows: list[list[Any]]
    deletion_date: date | None = None


@dataclass
class ExportCategory:
    key: str
    label: str
    special: bool
    purposes: list[str] = field(default_factory=list)
    legal_bases: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    retention: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


@dataclass
class ExportDocument:
    club: str
    subject_id: Any
    exported_at: datetime
    exported_by: str | None
    special_included: bool
    categories: list[ExportCategory]
    tables: list[ExportTable]

    @property
    def row_count(self) -> int:
        return sum(len(t.rows) for t in self.tables)


def column_type(model: DeclaredModel, name: str) -> str:
    """``string``, ``integer``, ``decimal``, ``boolean``, ``date``, ``datetime``, ..."""
    try:
        py = model.table.c[name].type.python_type
    except (NotImplementedError, KeyError):
        return "string"
    for kind, label in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (Decimal, "decimal"),
        (datetime, "datetime"),
        (date, "date"),
        (time, "time"),
    ):
        if issubclass(py, kind):
            return label
    return "string"


def build(
    state: AvgState,
    subject: Any,
    *,
    special: bool,
    actor: str | None,
    data: SubjectData | None = None,
) -> ExportDocument:
    """Everything exportable on ``subject``: never secrets, special categories only if ``special``."""
    data = data or collect(state, subject, special=special)
    catalogue = state.catalogue
    _ = translator()
    labels: dict[str, str] = {}

    def tr(label: Any) -> str:  # the same few labels recur: look each up once
        key = str(label)
        if key not in labels:
            labels[key] = translated(key, _)
        return labels[key]

    tables: list[ExportTable] = []
    categories = {
        grp.key: ExportCategory(
            key=grp.key,
            label=tr(grp.label),
            special=grp.special,
            purposes=[tr(p) for p in grp.purposes],
            legal_bases=[tr(b) for b in grp.bases],
            recipients=[tr(r) for r in grp.recipients],
        )
        for grp in data.categories
    }
    for md in data.models:
        model = md.model
        # collect() leaves out secrets (and special categories unless allowed);
        # columns declared export=False stay on the page but not in the file.
        exported = model.exported_columns(special=special)
        names = list(exported)
        if not names:
            continue
        columns = [
            ExportColumn(
                name=n,
                label=tr(column_label(model, n)),
                category=exported[n].category,
                type=column_type(model, n),
                special=exported[n].special,
            )
            for n in names
        ]
        rows = []
        for rec in md.records:
            values = {f.name: f.value for f in rec.fields}
            rows.append([values[n] for n in names])
        table = ExportTable(
            name=model.name,
            label=tr(model.label),
            columns=columns,
            keys=[list(rec.key) for rec in md.records],
            rows=rows,
            deletion_date=md.deletion_date,
        )
        tables.append(table)
        retention = _retention_text(state, model, _)
        for col in columns:
            cat = categories.get(col.category)
            if cat is None:
                known = catalogue.categories[col.category]
                cat = categories[col.category] = ExportCategory(
                    col.category, tr(known.label), known.special
                )
            if table.label not in cat.models:
                cat.models.append(table.label)
            if retention and retention not in cat.retention:
                cat.retention.append(retention)
    held_by_plugins = _plugin_tables(state, data.subject_id, special, tr)
    tables += held_by_plugins
    for table in held_by_plugins:
        for col in table.columns:
            cat = categories.get(col.category)
            if cat is None:
                declared = catalogue.categories.get(col.category)
                label = tr(declared.label) if declared is not None else col.category
                cat = categories[col.category] = ExportCategory(col.category, label, col.special)
            if table.label not in cat.models:
                cat.models.append(table.label)
    used = {c.category for t in tables for c in t.columns}
    return ExportDocument(
        club=app_name(),
        subject_id=data.subject_id,
        exported_at=utcnow(),
        exported_by=actor,
        special_included=special,
        categories=[c for c in categories.values() if c.key in used],
        tables=tables,
    )


def _value_type(values: list[Any]) -> str:
    for kind, label in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (Decimal, "decimal"),
        (datetime, "datetime"),
        (date, "date"),
    ):
        if values and all(v is None or isinstance(v, kind) for v in values):
            return label
    return "string"


def _plugin_tables(
    state: AvgState, subject_id: Any, special: bool, tr: Callable[[Any], str]
) -> list[ExportTable]:
    """What the plugins hold on the subject (requests, consent, files, ...), as tables."""
    ctx = SubjectContext(state, state.db.session, subject_id, logins_of(state, [subject_id]))
    tables = []
    for plugin, section in state.plugins.export(ctx):
        known = state.catalogue.categories.get(section.category)
        is_special = bool(known is not None and known.special)
        if is_special and not special:
            continue
        names = list(section.columns)
        columns = [
            ExportColumn(
                name=name,
                label=tr(section.columns[name]),
                category=section.category,
                type=_value_type([row.get(name) for row in section.rows]),
                special=is_special,
            )
            for name in names
        ]
        tables.append(
            ExportTable(
                name=f"{plugin.name}.{section.name}",
                label=tr(section.label),
                columns=columns,
                keys=[[i + 1] for i in range(len(section.rows))],
                rows=[[_plain(row.get(n)) for n in names] for row in section.rows],
            )
        )
    return tables


def _plain(value: Any) -> Any:
    """Plugin values as export cells: numbers, dates and booleans stay, the rest is text."""
    if value is None or isinstance(value, bool | int | float | Decimal | date):
        return value
    return str(value)


def _retention_text(state: AvgState, model: DeclaredModel, _: Callable[..., str]) -> str | None:
    key = model.policy.retention
    if not key:
        return None
    cat = state.catalogue.retention[key]
    return _(
        "%(model)s: %(days)s days after the %(anchor)s",
        model=translated(model.label, _),
        days=retention_days(state, key),
        anchor=translated(cat.anchor_label, _),
    )
