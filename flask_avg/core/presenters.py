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
from sqlalchemy import Select, String, false, or_, select

from flask_avg.core.converters import MAX_DAYS, add_days, in_id_range
from flask_avg.core.crypto import is_encrypted
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
    found = search_condition(state, columns, query)
    if found is not None:
        stmt = stmt.where(found)
    return stmt.order_by(*subject.primary_key)


def search_condition(state: AvgState, columns: list[str], query: str = "") -> Any:
    """The subjects one of whose text ``columns`` contains ``query`` (None: no search).

    ``%`` and ``_`` in the query are plain characters, not wildcards. SQL cannot look
    inside an encrypted column (:mod:`flask_avg.core.crypto`), so those among ``columns``
    are read, decrypted and matched here; the subjects found join the condition by key."""
    subject = state.registry.subject
    table = subject.table
    query = query.strip()
    if not query:
        return None
    text_cols = [table.c[n] for n in columns if isinstance(table.c[n].type, String)]
    sealed = [table.c[n] for n in columns if is_encrypted(table.c[n])]
    if not text_cols and not sealed:
        return None
    escaped = query.replace("/", "//").replace("%", "/%").replace("_", "/_")
    found: list[Any] = [c.ilike(f"%{escaped}%", escape="/") for c in text_cols]
    if sealed:
        keys = _decrypted_matches(state, sealed, query)
        found.append(subject.primary_key[0].in_(keys) if keys else false())
    return or_(*found)


def _decrypted_matches(state: AvgState, columns: list[Any], query: str) -> list[Any]:
    """Keys of the subjects one of whose encrypted ``columns`` contains ``query``
    (case-insensitive), decrypted in Python a batch at a time."""
    pk = state.registry.subject.primary_key[0]
    needle = query.casefold()
    stmt = select(pk, *columns).where(or_(*(c.is_not(None) for c in columns)))
    keys: list[Any] = []
    result = state.db.session.execute(stmt.execution_options(yield_per=1000))
    for row in result:
        if any(value is not None and needle in value.casefold() for value in row[1:]):
            keys.append(row[0])
    return keys


#: Column names read, in order, as the parts of a person's name when the host names none.
NAME_COLUMNS = (
    "first_name",
    "given_name",
    "initials",
    "infix",
    "middle_name",
    "last_name",
    "surname",
    "family_name",
    "name",
    "full_name",
    "display_name",
)
#: Column names read as a person's number (membership number, customer number).
NUMBER_COLUMNS = ("member_number", "membership_number", "number", "customer_number", "code")


@dataclass(frozen=True)
class SubjectNaming:
    """Which columns of the subject model name a person on the board's pages."""

    name: tuple[str, ...]
    number: str | None

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.name, self.number) if self.number else self.name


def subject_naming(state: AvgState) -> SubjectNaming:
    """``AVG_SUBJECT_LABEL`` when set (``{"name": (...), "number": "..."}``), else the
    subject's columns named like a name (:data:`NAME_COLUMNS`) and a number
    (:data:`NUMBER_COLUMNS`). A column the subject model lacks is a configuration error."""
    from flask_avg.core.config import ConfigurationError, config_value

    table = state.registry.subject.table
    chosen = config_value("SUBJECT_LABEL") or {}
    if chosen:
        name = chosen.get("name") or ()
        names = (name,) if isinstance(name, str) else tuple(name)
        number = chosen.get("number")
        missing = [c for c in (*names, number) if c and c not in table.c]
        if missing:
            raise ConfigurationError(
                f"AVG_SUBJECT_LABEL names column(s) {', '.join(missing)} "
                f"the subject table {table.name!r} lacks"
            )
        return SubjectNaming(names, number)
    names = tuple(c for c in NAME_COLUMNS if c in table.c)
    if {"first_name", "last_name"} & set(names):
        # parts of a name win over a whole one kept beside them (a login name, say)
        names = tuple(c for c in names if c not in ("name", "full_name", "display_name"))
    number = next((c for c in NUMBER_COLUMNS if c in table.c), None)
    return SubjectNaming(names[:4], number)


def _get(values: Any, name: str) -> Any:
    if isinstance(values, dict) or hasattr(values, "keys"):
        return values.get(name)
    return getattr(values, name, None)


def person_name(naming: SubjectNaming, values: Any) -> str:
    """The name columns of ``values`` joined: "Jan de Vries" ("" without any)."""
    parts = (_get(values, c) for c in naming.name)
    return " ".join(str(v).strip() for v in parts if v not in (None, ""))


def subject_label(state: AvgState, values: Any, key: Any = None) -> str:
    """A person as the board knows them: "Jan de Vries (W10001)".

    ``values`` is a row or mapping holding :attr:`SubjectNaming.columns`; without a
    name the number, without either ``#key``.
    """
    naming = subject_naming(state)
    name = person_name(naming, values)
    number = _get(values, naming.number) if naming.number else None
    if name and number not in (None, ""):
        return f"{name} ({number})"
    if name:
        return name
    if number not in (None, ""):
        return str(number)
    return f"#{key}" if key is not None else "?"


def subject_labels(state: AvgState, keys: Any, *, erased: Any = None) -> dict[str, str]:
    """Labels of the subjects whose keys (as stored: text) are in ``keys``, in one query.

    ``erased`` is a condition on the subject table that marks erased rows (the
    retention feature's): those read "erased member #key", never the placeholders
    anonymising left. Keys of rows that are gone are left out.
    """
    from flask_avg.core.i18n import gettext as _

    subject = state.registry.subject
    pk = subject.primary_key[0]
    typed = set()
    for key in {k for k in keys if k not in (None, "")}:
        try:
            value = pk.type.python_type(key)
        except (TypeError, ValueError, NotImplementedError):
            continue
        if isinstance(value, int) and not in_id_range(value, pk.type):
            continue
        typed.add(value)
    if not typed:
        return {}
    naming = subject_naming(state)
    cols = [subject.table.c[c] for c in naming.columns]
    flag = erased.label("avg_erased") if erased is not None else None
    stmt = select(pk.label("avg_key"), *cols, *([flag] if flag is not None else []))
    labels: dict[str, str] = {}
    for row in state.db.session.execute(stmt.where(pk.in_(typed))).mappings():
        key = str(row["avg_key"])
        if flag is not None and row["avg_erased"]:
            labels[key] = _("erased %(subject)s #%(key)s", key=key)
        else:
            labels[key] = subject_label(state, row, key)
    return labels


def actor_names(state: AvgState, keys: Any) -> dict[str, str]:
    """Readable names for stored login-account keys (audit actors, request handlers):
    the name of the person the account belongs to when the subject model points to
    the login model, else the account's e-mail or name; two queries at most.
    Keys of accounts that are gone read "removed account #key"."""
    from flask_avg.core.i18n import gettext as _
    from flask_avg.core.identity import actor_labels

    wanted = {str(k) for k in keys if k not in (None, "")}
    if not wanted:
        return {}
    labels = actor_labels(state, wanted)
    model: Any = state.user_model
    subject = state.registry.subject
    table = getattr(model, "__table__", None)
    link = None
    if table is not None and subject.table is not table:
        link = next(
            (fk.parent for fk in subject.table.foreign_keys if fk.column.table is table), None
        )
    if link is not None and labels:
        naming = subject_naming(state)
        if naming.name:
            cols = [subject.table.c[c] for c in naming.columns]
            pk = link.type.python_type
            try:
                typed = {pk(k) for k in labels}
            except (TypeError, ValueError, NotImplementedError):
                typed = set()
            rows = state.db.session.execute(
                select(link.label("avg_login"), *cols).where(link.in_(typed))
            ).mappings()
            for row in rows:
                login = str(row["avg_login"])
                person = person_name(naming, row)
                if person and login in labels and person != labels[login]:
                    labels[login] = f"{person} ({labels[login]})"
    for key in wanted - set(labels):
        labels[key] = _("removed account #%(key)s", key=key)
    return labels


def model_label(state: AvgState, name: Any) -> str:
    """A model or a plugin's data by its declared label ("SignUp" reads "Aanmeldingen");
    a ``{"nl": ..., "en": ...}`` text in the page's language; anything else as it is."""
    if isinstance(name, dict):
        return str(localise(name))
    text = str(name or "")
    try:
        return str(localise(state.registry.get(text).label))
    except KeyError:
        pass
    labels = state.plugins.labels()
    return str(localise(labels[text])) if text in labels else text


def field_label(state: AvgState, key: Any) -> str:
    """A stored ``Model.column`` (a correction request's field) by its labels:
    "Lid: Achternaam"; a model or column nobody declared as it is."""
    text = str(key or "")
    model_name, _sep, column = text.partition(".")
    try:
        model = state.registry.get(model_name)
    except KeyError:
        return text
    label = str(localise(model.label))
    if not column:
        return label
    if column not in model.table.c:
        return f"{label}: {column}"
    return f"{label}: {column_label(model, column)}"


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
