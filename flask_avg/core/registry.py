"""Reads the host's declarations into a :class:`Registry` and checks them at ``init_app``.

Every mistake a host can make in a declaration is reported here, naming the
model and column, rather than surfacing later as wrong data in an export.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    BINARY,
    VARBINARY,
    Column,
    Date,
    DateTime,
    Enum,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper

from flask_avg.core.config import ConfigurationError
from flask_avg.core.declarations import (
    ANONYMISERS,
    INFO_KEY,
    LEGAL_BASES,
    Category,
    ModelPolicy,
    Personal,
    PersonalDataMixin,
    SubjectMixin,
)
from flask_avg.core.retention_categories import RetentionCategory

#: Name parts that say a column holds a secret (``password_hash``, ``api_key``,
#: ``fs_uniquifier``), matched against whole parts of the snake_case name so that
#: ``passport`` or ``footprint`` are not secrets.
SECRET_NAME = re.compile(
    r"(?:^|_)(?:password|passwd|pwd|secrets?|tokens?|t?otp|hotp|api_?keys?|salt|"
    r"hash(?:ed)?|uniquifier|nonce|credentials?|recovery_codes?)(?:_|$)"
)


def snake(name: str) -> str:
    """``apiKey`` and ``API-Key`` as ``api_key``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower())


def looks_secret(col: Column[Any]) -> bool:
    """Whether a text or binary column's name says it holds a secret. Dates, flags and
    numbers (``token_expiration``, ``password_changed_at``) never do."""
    typ = col.type
    if isinstance(typ, Enum) or not isinstance(typ, String | LargeBinary | BINARY | VARBINARY):
        return False
    return bool(SECRET_NAME.search(snake(col.name)))


def is_secret(col: Column[Any], spec: Personal | None) -> bool:
    """Declared ``personal(secret=True)``, or a text column named like a secret."""
    return bool(spec is not None and spec.secret) or looks_secret(col)


@dataclass(frozen=True)
class Hop:
    """One step of a path towards the subject table.

    A row of ``src`` belongs to the subjects that the rows of ``dst`` belong to
    when ``src.<a> = dst.<b>`` for any ``(a, b)`` in ``pairs``. ``up`` is True
    when ``src`` holds the foreign key (child to parent).
    """

    src: Table
    dst: Table
    pairs: tuple[tuple[Column[Any], Column[Any]], ...]
    up: bool


Path = tuple[Hop, ...]


def describe(path: Path, start: Table) -> str:
    """A path as text: ``comments -post_id-> posts -author_id-> members``
    (``users <-user_id- members`` where the other table holds the key)."""
    parts = [start.name]
    for hop in path:
        cols = "|".join((a if hop.up else b).name for a, b in hop.pairs)
        parts += [f"-{cols}->" if hop.up else f"<-{cols}-", hop.dst.name]
    return " ".join(parts)


def branches(paths: tuple[Path, ...] | list[Path]) -> list[Path]:
    """The paths split at their first hop's pairs: one branch per foreign key the
    row itself (or the first row reached) holds (``sender_id``, ``recipient_id``)."""
    out: list[Path] = []
    for path in paths:
        first, rest = path[0], path[1:]
        if len(first.pairs) == 1:
            out.append(path)
        else:
            out += [(replace(first, pairs=(pair,)), *rest) for pair in first.pairs]
    return out


@dataclass(eq=False)
class DeclaredModel:
    """One declared model or table, its personal columns and its paths to the subject."""

    name: str
    table: Table
    cls: type | None
    policy: ModelPolicy
    columns: dict[str, Personal]
    is_subject: bool = False
    #: the foreign-key paths ownership follows: a row belongs to the subjects
    #: reached along any of them
    paths: tuple[Path, ...] = ()
    #: every path that could be followed, in order (``flask avg check`` lists them)
    candidates: tuple[Path, ...] = ()
    #: foreign-key column of this table -> the branches of ``paths`` starting with
    #: it: a row with two or more non-NULL ones may belong to several members
    parties: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    #: column name -> ORM attribute name, for mapped models
    attributes: dict[str, str] = field(default_factory=dict)
    #: at most one row per member and one member per row (a profile linked by a
    #: unique foreign key to the subject or its login): members may edit its columns
    one_to_one: bool = False

    @property
    def path(self) -> Path:
        """The first path followed (the only one, for most models)."""
        return self.paths[0] if self.paths else ()

    def follows(self, path: Path) -> bool:
        """Whether ownership follows ``path`` (one of :attr:`candidates`)."""
        return _among(path, self.paths)

    @property
    def shareable(self) -> bool:
        """Whether a row may belong to more than one member (two or more parties)."""
        return len(self.parties) > 1

    def value(self, row: Any, column: str) -> Any:
        """A column's value from an ORM object or a row mapping."""
        if isinstance(row, dict):
            return row[column]
        return getattr(row, self.attributes.get(column, column))

    def key_of(self, row: Any) -> tuple[Any, ...]:
        return tuple(self.value(row, col.name) for col in self.primary_key)

    @property
    def label(self) -> Any:
        """The model's readable name in the page's language."""
        from flask_avg.core.i18n import localise

        return localise(self.policy.label) or self.name

    @property
    def primary_key(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)

    @property
    def anchor_column(self) -> Column[Any] | None:
        return self.table.c[self.policy.anchor] if self.policy.anchor else None

    @property
    def birth_date_column(self) -> Column[Any] | None:
        """The declared date of birth (``ModelPolicy(birth_date=...)``), or None."""
        return self.table.c[self.policy.birth_date] if self.policy.birth_date else None

    def exported_columns(self, *, special: bool = True) -> dict[str, Personal]:
        """Columns that may leave the system; special-category ones only when allowed."""
        return {
            name: spec
            for name, spec in self.columns.items()
            if spec.export and not spec.secret and (special or not spec.special)
        }


@dataclass
class Registry:
    subject: DeclaredModel
    models: list[DeclaredModel] = field(default_factory=list)

    def __iter__(self) -> Iterator[DeclaredModel]:
        return iter(self.models)

    def get(self, name_or_cls: str | type) -> DeclaredModel:
        for model in self.models:
            if model.name == name_or_cls or model.cls is name_or_cls:
                return model
        raise KeyError(f"{name_or_cls!r} is not a declared flask-avg model")

    @property
    def categories(self) -> list[str]:
        """Every data category in use, in declaration order."""
        seen: dict[str, None] = {}
        for model in self.models:
            for spec in model.columns.values():
                seen.setdefault(spec.category)
        return list(seen)

    @property
    def retention_categories(self) -> list[str]:
        """Every retention category a declared model uses: pages show no others."""
        return list(dict.fromkeys(m.policy.retention for m in self.models if m.policy.retention))


@dataclass
class Catalogue:
    """The data and retention categories one extension instance knows."""

    categories: dict[str, Category]
    retention: dict[str, RetentionCategory]


def build_registry(db: Any, catalogue: Catalogue) -> Registry:
    """Scan the host's ``db`` for declared models and tables; raise on any mistake."""
    errors: list[str] = []
    declared: list[DeclaredModel] = []
    subject_models: list[DeclaredModel] = []

    mappers: list[Mapper[Any]] = sorted(
        (m for m in db.Model.registry.mappers if isinstance(m.local_table, Table)),
        key=lambda m: m.class_.__name__,
    )
    mapped_tables = {m.local_table for m in mappers}
    for mapper in mappers:
        cls = mapper.class_
        if not issubclass(cls, PersonalDataMixin):
            _warn_stray_info(cls.__name__, mapper.local_table, errors)  # type: ignore[arg-type]
            continue
        table: Table = mapper.local_table  # type: ignore[assignment]
        model = _read_model(cls.__name__, table, cls, cls.__avg__, catalogue, errors)
        model.is_subject = issubclass(cls, SubjectMixin)
        declared.append(model)
        if model.is_subject:
            subject_models.append(model)

    for table in sorted(db.metadata.tables.values(), key=lambda t: t.name):
        if table in mapped_tables or INFO_KEY not in table.info:
            continue
        policy = table.info[INFO_KEY]
        declared.append(_read_model(table.name, table, None, policy, catalogue, errors))

    if not subject_models:
        errors.append("no subject model: mark your member model with flask_avg.SubjectMixin")
    elif len(subject_models) > 1:
        names = ", ".join(m.name for m in subject_models)
        errors.append(f"more than one subject model ({names}); exactly one may use SubjectMixin")
    if errors:
        raise ConfigurationError("flask-avg declarations:\n  - " + "\n  - ".join(errors))

    subject = subject_models[0]
    if len(subject.primary_key) != 1:
        errors.append(f"{subject.name}: the subject model needs a single-column primary key")
    edges = _edges(db.metadata)
    for model in declared:
        if not model.is_subject:
            _find_paths(model, subject, edges, errors)
            model.one_to_one = _one_to_one(model)
        _check_parties(model, errors)
        _check_editable(model, errors)
    if errors:
        raise ConfigurationError("flask-avg declarations:\n  - " + "\n  - ".join(errors))
    declared.sort(key=lambda m: (not m.is_subject, min(map(len, m.paths), default=0), m.name))
    return Registry(subject=subject, models=declared)


def _warn_stray_info(name: str, table: Table, errors: list[str]) -> None:
    for col in table.columns:
        if INFO_KEY in col.info:
            errors.append(
                f"{name}.{col.name} is declared personal but {name} lacks "
                "PersonalDataMixin (or SubjectMixin), so flask-avg would never see it"
            )


def _read_model(
    name: str,
    table: Table,
    cls: type | None,
    policy: Any,
    catalogue: Catalogue,
    errors: list[str],
) -> DeclaredModel:
    if not isinstance(policy, ModelPolicy):
        errors.append(f"{name}: __avg__ must be a flask_avg.ModelPolicy, not {policy!r}")
        policy = ModelPolicy()
    columns: dict[str, Personal] = {}
    for col in table.columns:
        spec = col.info.get(INFO_KEY)
        if spec is None:
            continue
        if not isinstance(spec, Personal):
            errors.append(f"{name}.{col.name}: info['avg'] must come from flask_avg.personal()")
            continue
        columns[col.name] = spec
    for col_name, info in policy.columns.items():
        if col_name not in table.c:
            errors.append(
                f"{name}.{col_name}: declared in ModelPolicy but the column does not exist"
            )
            continue
        columns[col_name] = info[INFO_KEY]
    categories = catalogue.categories
    for col_name, spec in list(columns.items()):
        cat = categories.get(spec.category)
        columns[col_name] = replace(policy.with_defaults(spec), special=bool(cat and cat.special))

    for col_name, spec in columns.items():
        where = f"{name}.{col_name}"
        if spec.category not in categories:
            errors.append(
                f"{where}: unknown data category {spec.category!r} "
                f"(known: {', '.join(categories)}; add one with AVG.add_category)"
            )
        if spec.basis is not None and spec.basis not in LEGAL_BASES:
            errors.append(
                f"{where}: unknown legal basis {spec.basis!r} (known: {', '.join(LEGAL_BASES)})"
            )
        if spec.export and looks_secret(table.c[col_name]) and not spec.secret:
            errors.append(
                f"{where}: looks like a password or token but is marked exportable; "
                "declare it with personal(..., secret=True)"
            )
        if spec.secret and spec.export:
            errors.append(f"{where}: a secret column can never be exported (drop export=True)")
        if isinstance(spec.anonymise, str) and spec.anonymise not in ANONYMISERS:
            errors.append(
                f"{where}: unknown anonymiser {spec.anonymise!r} (known: {', '.join(ANONYMISERS)})"
            )
        if spec.editable and table.c[col_name].primary_key:
            errors.append(f"{where}: a primary key cannot be editable by members")
        elif spec.editable and table.c[col_name].foreign_keys:
            errors.append(f"{where}: a foreign key cannot be editable by members")
        if spec.editable and spec.secret:
            errors.append(f"{where}: a secret column cannot be editable by members")

    if policy.anchor is not None:
        if policy.anchor not in table.c:
            errors.append(f"{name}: retention anchor column {policy.anchor!r} does not exist")
        elif not isinstance(table.c[policy.anchor].type, Date | DateTime):
            errors.append(
                f"{name}.{policy.anchor}: a retention anchor must be a Date or DateTime column, "
                f"not {table.c[policy.anchor].type}"
            )
        if policy.anchor in columns and columns[policy.anchor].editable:
            errors.append(f"{name}.{policy.anchor}: the retention anchor cannot be member-editable")
    if policy.birth_date is not None:
        if policy.birth_date not in table.c:
            errors.append(f"{name}: birth date column {policy.birth_date!r} does not exist")
        elif not isinstance(table.c[policy.birth_date].type, Date | DateTime):
            errors.append(f"{name}.{policy.birth_date}: a birth date must be a Date column")
        if policy.birth_date in columns and columns[policy.birth_date].editable:
            # a child would make themselves of age
            errors.append(f"{name}.{policy.birth_date}: the birth date cannot be member-editable")
    if policy.retention is not None and policy.retention not in catalogue.retention:
        errors.append(
            f"{name}: unknown retention category {policy.retention!r} "
            f"(known: {', '.join(catalogue.retention)}; add one with AVG.add_retention_category)"
        )
    if policy.retention is not None and policy.anchor is None:
        errors.append(f"{name}: retention {policy.retention!r} needs an anchor date column")
    if policy.erase not in ("delete", "anonymise"):
        errors.append(f"{name}: erase must be 'delete' or 'anonymise', not {policy.erase!r}")
    if policy.shared not in ("delete", "keep"):
        errors.append(f"{name}: shared must be 'delete' or 'keep', not {policy.shared!r}")
    attributes: dict[str, str] = {}
    if cls is not None:
        prop: Any
        for prop in sa_inspect(cls).column_attrs:
            for col in prop.columns:
                if getattr(col, "table", None) is table:
                    attributes[col.name] = prop.key
    return DeclaredModel(
        name=name, table=table, cls=cls, policy=policy, columns=columns, attributes=attributes
    )


def _edges(metadata: Any) -> dict[Table, list[Hop]]:
    """Foreign-key edges in both directions, grouped per (src, dst, direction)."""
    grouped: dict[tuple[Table, Table, bool], list[tuple[Column[Any], Column[Any]]]] = {}
    for table in metadata.tables.values():
        order = {col.name: i for i, col in enumerate(table.columns)}
        constraints = sorted(
            table.foreign_key_constraints,
            key=lambda c: [order.get(col.name, 0) for col in c.columns],
        )
        for fk_constraint in constraints:  # in column order: sender_id before recipient_id
            if len(fk_constraint.elements) != 1:
                continue  # composite keys are not followed
            fk = fk_constraint.elements[0]
            child_col, parent_col = fk.parent, fk.column
            parent = parent_col.table
            grouped.setdefault((table, parent, True), []).append((child_col, parent_col))
            grouped.setdefault((parent, table, False), []).append((parent_col, child_col))
    edges: dict[Table, list[Hop]] = {}
    for (src, dst, up), pairs in grouped.items():
        edges.setdefault(src, []).append(Hop(src, dst, tuple(pairs), up))
    for hops in edges.values():
        hops.sort(key=lambda h: (not h.up, h.dst.name))
    return edges


#: Paths through a model's own foreign keys found at most; more means a schema
#: that needs ``via`` anyway.
MAX_PATHS = 64


def _find_paths(
    model: DeclaredModel, subject: DeclaredModel, edges: dict[Table, list[Hop]], errors: list[str]
) -> None:
    """Find the model's paths to the subject and choose the ones to follow.

    A path *climbing* foreign keys from the row to the member (comment -> post
    -> member) says whose row it is. Paths that first go *down* to rows pointing
    at this one (a login account that a member row points to, a team through
    its association table) are only considered when no climbing path exists,
    and then only the shortest. More than one such path is refused until
    ``ModelPolicy(via=...)`` says which to follow.
    """
    shortest = _shortest(model.table, subject.table, edges, came_up=None)
    found = []
    if shortest is not None:
        found = _all_paths(model.table, subject.table, edges, down_limit=len(shortest) + 2)
    if not found:
        errors.append(
            f"{model.name}: no foreign-key path from table {model.table.name!r} to the "
            f"subject table {subject.table.name!r}"
        )
        return
    default = _preferred(found)
    routes = model.policy.routes
    listing = "".join(f"\n      {describe(p, model.table)}" for p in found[:MAX_PATHS])
    if not routes or routes == ("all",):
        if len(default) > 1 and not routes:
            errors.append(
                f"{model.name}: reaches the subject along {len(default)} foreign-key paths; "
                "say which to follow with ModelPolicy(via=...): a column, relationship or "
                'table on the path, a tuple of them, or "all" (a row then belongs to the '
                "members along any of them):"
                + "".join(f"\n      {describe(p, model.table)}" for p in default)
            )
            return
        chosen = default
    else:
        chosen = []
        for name in routes:
            matched = default if name == "all" else [p for p in found if _on(model, p, name)]
            if not matched:
                errors.append(
                    f"{model.name}: via {name!r} names no column, relationship or table on "
                    f"its paths to the subject:{listing}"
                )
                return
            chosen += [p for p in _preferred(matched) if not _among(p, chosen)]
    model.paths = tuple(chosen)
    model.candidates = (*default, *(p for p in chosen if not _among(p, default)))


def _among(path: Path, paths: list[Path] | tuple[Path, ...]) -> bool:
    return any(
        len(p) == len(path) and all(a is b for a, b in zip(p, path, strict=True)) for p in paths
    )


def _preferred(paths: list[Path]) -> list[Path]:
    """Every climbing path; without one, the shortest paths."""
    climbing = [p for p in paths if all(hop.up for hop in p)]
    if climbing or not paths:
        return climbing
    length = min(map(len, paths))
    return [p for p in paths if len(p) == length]


def _on(model: DeclaredModel, path: Path, name: str) -> bool:
    """Whether ``name`` is a table, a foreign-key column (``col`` or ``table.col``)
    or (on the model's class) a relationship that ``path`` goes through."""
    if any(hop.dst.name == name for hop in path):
        return True
    for hop in path:
        for a, b in hop.pairs:
            col = a if hop.up else b
            if name in (col.name, f"{col.table.name}.{col.name}"):
                return True
    if model.cls is None:
        return False
    rel: Any = sa_inspect(model.cls).relationships.get(name)
    if rel is None:
        return False
    first = path[0]
    if rel.secondary is not None and first.dst is rel.secondary:
        return True
    pairs = {(id(a), id(b)) for a, b in rel.local_remote_pairs or ()}
    return any((id(a), id(b)) in pairs for a, b in first.pairs)


def _all_paths(
    start: Table, goal: Table, edges: dict[Table, list[Hop]], down_limit: int
) -> list[Path]:
    """Every path from ``start`` to ``goal`` that visits no table twice and never
    goes up to a parent and back down; those going down at all are at most
    ``down_limit`` hops long. Shortest first, at most :data:`MAX_PATHS`."""
    found: list[Path] = []

    def walk(table: Table, last_up: bool | None, seen: frozenset[Table], path: Path) -> None:
        for hop in edges.get(table, []):
            if len(found) >= MAX_PATHS:
                return
            if (last_up is True and not hop.up and not one_to_one_down(hop)) or hop.dst in seen:
                continue
            step = (*path, hop)
            if hop.dst is goal:
                found.append(step)
            elif all(h.up for h in step) or len(step) < down_limit:
                walk(hop.dst, hop.up or last_up is True, seen | {hop.dst}, step)

    walk(start, None, frozenset({start}), ())
    found.sort(key=lambda p: (len(p), describe(p, start)))
    return found


def is_unique(col: Column[Any]) -> bool:
    """Whether no two rows may hold the same non-NULL value in ``col``: the table's
    only primary-key column, ``unique=True``, or a one-column unique constraint or index."""
    table = col.table
    if col.primary_key and len(table.primary_key.columns) == 1:
        return True
    if col.unique:
        return True
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and list(constraint.columns) == [col]:
            return True
    return any(index.unique and list(index.columns) == [col] for index in table.indexes)


def one_to_one_down(hop: Hop) -> bool:
    """Whether ``hop`` goes down along one foreign key that is unique: each row of
    ``hop.src`` has at most one row of ``hop.dst`` pointing to it (a login account
    and the member holding a unique ``user_id``)."""
    return not hop.up and len(hop.pairs) == 1 and is_unique(hop.pairs[0][1])


def _one_to_one(model: DeclaredModel) -> bool:
    """One followed path, one key per step, and every step one-to-one: a member has
    at most one row of the model and a row belongs to at most one member."""
    if len(model.paths) != 1:
        return False
    for hop in model.paths[0]:
        if len(hop.pairs) != 1:
            return False
        if hop.up and not is_unique(hop.pairs[0][0]):
            return False  # many rows may point to the same parent
        if not hop.up and not one_to_one_down(hop):
            return False  # a row may reach many members
    return True


def _check_editable(model: DeclaredModel, errors: list[str]) -> None:
    """``editable=True`` outside the subject needs a one-to-one model: on one with
    many rows per member, "the member's value" would be ambiguous."""
    if model.is_subject or model.one_to_one or not model.paths:
        return  # without a path, init_app already says so
    for col_name, spec in model.columns.items():
        if not spec.editable:
            continue
        links = "; ".join(describe(p, model.table) for p in model.paths)
        errors.append(
            f"{model.name}.{col_name}: editable=True needs a one-to-one model (a profile "
            "with a unique foreign key to the subject or to its login account), but a "
            f"member may have several {model.name} rows ({links}), so which value they "
            "could edit is ambiguous; drop editable=True or make the link unique"
        )


def _check_parties(model: DeclaredModel, errors: list[str]) -> None:
    """Group the followed paths by the foreign key the row holds; check ``shared``
    and ``personal(party=...)``."""
    for branch in branches(model.paths):
        hop = branch[0]
        if not hop.up:  # the link is on another table: not a row shared by its keys
            model.parties = {}
            break
        col = hop.pairs[0][0]
        model.parties[col.name] = (*model.parties.get(col.name, ()), branch)
    policy = model.policy
    keep = policy.shared == "keep"
    if keep and model.is_subject:
        errors.append(f"{model.name}: the subject model cannot be shared='keep'")
    elif keep and not model.shareable:
        links = ", ".join(model.parties) or "none on the table itself"
        errors.append(
            f"{model.name}: shared='keep' is for rows that two or more foreign keys link to "
            f"members (a sender and a recipient); its links: {links}"
        )
    elif keep:
        for name in model.parties:
            if not model.table.c[name].nullable:
                errors.append(
                    f"{model.name}.{name}: shared='keep' sets an erased member's link to NULL, "
                    "so the column must be nullable"
                )
    for col_name, spec in model.columns.items():
        if spec.party is None:
            continue
        where = f"{model.name}.{col_name}"
        if not keep:
            errors.append(f"{where}: party={spec.party!r} needs ModelPolicy(shared='keep')")
        elif spec.party not in model.parties:
            errors.append(
                f"{where}: party {spec.party!r} is not one of the row's links to members "
                f"({', '.join(model.parties)})"
            )


def _shortest(
    start: Table, goal: Table, edges: dict[Table, list[Hop]], came_up: bool | None
) -> list[Hop] | None:
    """Breadth-first search that never goes up to a parent and back down again.

    Going up then down would pass through a shared parent (a lookup table such
    as ``countries``) and make every row belong to every subject sharing it;
    only a one-to-one step down (:func:`one_to_one_down`) may follow a step up.
    """
    queue: deque[tuple[Table, bool | None, list[Hop]]] = deque([(start, came_up, [])])
    seen = {(start, came_up)}
    while queue:
        table, last_up, path = queue.popleft()
        if table is goal and path:
            return path
        if table is goal and not path and start is goal:
            return path
        for hop in edges.get(table, []):
            if last_up is True and not hop.up and not one_to_one_down(hop):
                continue
            # after climbing, a one-to-one step down (to the member a login belongs
            # to) still counts as climbing: only one-to-one steps may follow it
            state = (hop.dst, hop.up or last_up is True)
            if state in seen:
                continue
            seen.add(state)
            queue.append((hop.dst, state[1], [*path, hop]))
    return None
