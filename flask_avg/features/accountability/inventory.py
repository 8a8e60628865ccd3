"""The personal-data inventory: every table and column in the host's database, declared or not.

It reflects the live database (so tables no model knows about show up too),
compares it with the declarations, and flags free-text columns that nobody
declared on tables whose rows belong to a member: the notes field a
developer added last year is exactly where hidden personal data lives
(seed 000). Undeclared tables that link to a member or to a login account are
flagged as a whole, even with nothing but keys: a ``followers`` or
``roles_users`` association says who follows whom and who holds which role.
``flask avg inventory --strict`` fails a host's CI while anything is flagged.
A column (or table) reviewed as not personal is marked with
``info=not_personal("why")``. flask-avg's own tables are counted, not listed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Enum, MetaData, String, Table
from sqlalchemy import inspect as sa_inspect

from flask_avg.core.models import AvgBase

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

NOT_PERSONAL_KEY = "avg_not_personal"

#: Column statuses, from safe to suspect.
PERSONAL, KEY, REVIEWED, OTHER, FLAGGED = ("personal", "key", "reviewed", "other", "flagged")


def not_personal(reason: str) -> dict[str, Any]:
    """``info=`` for a text column (or a table) reviewed and found not to hold personal data."""
    if not reason:
        raise ValueError("say why the column holds no personal data")
    return {NOT_PERSONAL_KEY: reason}


@dataclass
class ColumnEntry:
    name: str
    type: str
    status: str
    note: str = ""
    in_code: bool = True


@dataclass
class TableEntry:
    name: str
    declared_as: str | None
    linked: bool
    path: list[str]
    in_database: bool
    in_code: bool
    columns: list[ColumnEntry] = field(default_factory=list)
    #: why the table holds no personal data (``not_personal`` on the table, ``--ignore``)
    reviewed: str = ""

    @property
    def flagged(self) -> list[ColumnEntry]:
        return [c for c in self.columns if c.status == FLAGGED]

    @property
    def undeclared_link(self) -> bool:
        """Linked to a member or login account, yet neither declared nor reviewed."""
        return self.linked and self.declared_as is None and not self.reviewed


@dataclass
class Inventory:
    subject_table: str
    tables: list[TableEntry]
    #: flask-avg's own tables (``avg_*``): its records, summarised rather than listed
    own: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> list[tuple[str, ColumnEntry]]:
        return [(t.name, c) for t in self.tables for c in t.flagged]

    @property
    def flagged_tables(self) -> list[TableEntry]:
        """Undeclared tables that link to a member or login account."""
        return [t for t in self.tables if t.undeclared_link]

    @property
    def clean(self) -> bool:
        return not self.flagged and not self.flagged_tables


#: How to settle a flagged table, for the CLI and the page.
DECLARE_TABLE_HINT = (
    "declare it (__avg__ = ModelPolicy(...) with PersonalDataMixin on its model, or "
    'info={"avg": ModelPolicy(...)} on a Table) or mark it not_personal("why")'
)


def is_own(name: str) -> bool:
    """Whether ``name`` is one of flask-avg's own tables."""
    return name.startswith("avg_") or name in AvgBase.metadata.tables


def _is_text(col_type: Any) -> bool:
    return (isinstance(col_type, String) and not isinstance(col_type, Enum)) or isinstance(
        col_type, JSON
    )


def _unique_columns(table: Table, inspector: Any, reflected: bool) -> set[str]:
    """Columns that are unique on their own (one-to-one when pointed at)."""
    unique: set[str] = set()
    if len(table.primary_key.columns) == 1:
        unique.add(next(iter(table.primary_key.columns)).name)
    for col in table.columns:
        if col.unique:
            unique.add(col.name)
    for idx in table.indexes:
        if idx.unique and len(idx.columns) == 1:
            unique.add(next(iter(idx.columns)).name)
    for cons in table.constraints:
        cols = getattr(cons, "columns", None)
        if cons.__class__.__name__ == "UniqueConstraint" and cols is not None and len(cols) == 1:
            unique.add(next(iter(cols)).name)
    if reflected and inspector is not None:
        for uc in inspector.get_unique_constraints(table.name):
            if len(uc["column_names"]) == 1:
                unique.add(uc["column_names"][0])
    return unique


def build(state: AvgState, *, ignore: tuple[str, ...] | list[str] = ()) -> Inventory:
    """Compare the live database with the declarations; ``ignore`` lists ``table.column``
    (or ``table`` for a whole table reviewed as not personal)."""
    engine = state.db.engine
    inspector = sa_inspect(engine)
    reflected = MetaData()
    reflected.reflect(bind=engine)
    code_tables: dict[str, Table] = dict(state.db.metadata.tables)
    declared = {model.table.name: model for model in state.registry}
    subject_table = state.registry.subject.table.name
    goals = {subject_table}
    login_table = getattr(state.ext.user_model, "__table__", None)
    if login_table is not None:
        goals.add(login_table.name)

    every = sorted(set(reflected.tables) | set(code_tables))
    own = [n for n in every if is_own(n)]
    names = [n for n in every if not is_own(n)]
    # name-level foreign-key graph: (child, child_col) -> (parent, parent_col)
    tables: dict[str, Table] = {
        n: code_tables[n] if n in code_tables else reflected.tables[n] for n in names
    }
    fks: list[tuple[str, str, str]] = []  # child table, child column, parent table
    unique: dict[str, set[str]] = {}
    for name in names:
        for source in (code_tables.get(name), reflected.tables.get(name)):
            if source is None:
                continue
            for fk in source.foreign_keys:
                fks.append((name, fk.parent.name, fk.column.table.name))
            unique.setdefault(name, set()).update(
                _unique_columns(source, inspector, source is reflected.tables.get(name))
            )
    fks = sorted(set(fks))

    entries: list[TableEntry] = []
    for name in names:
        model = declared.get(name)
        path = [name, *(hop.dst.name for hop in model.path)] if model is not None else []
        if model is None:
            path = _path(name, goals, fks, unique) or []
        linked = model is not None or bool(path)
        code = code_tables.get(name)
        reviewed = str(code.info.get(NOT_PERSONAL_KEY) or "") if code is not None else ""
        if not reviewed and name in ignore:
            reviewed = "--ignore"
        entry = TableEntry(
            name=name,
            declared_as=model.name if model is not None else None,
            linked=linked,
            path=path,
            in_database=name in reflected.tables,
            in_code=name in code_tables,
            reviewed=reviewed,
        )
        db_cols = reflected.tables[name].columns if name in reflected.tables else None
        col_names = list(tables[name].columns.keys())
        if db_cols is not None:
            col_names += [c.key for c in db_cols if c.key not in col_names]
        keys = {c.name for c in tables[name].primary_key.columns} | {
            c for t, c, _p in fks if t == name
        }
        for col_name in col_names:
            col = (
                code.columns[col_name]
                if code is not None and col_name in code.columns
                else db_cols[col_name]  # type: ignore[index]
            )
            entry.columns.append(
                _column(name, col, model, keys, linked, ignore, in_code=col.table is code)
            )
        entries.append(entry)
    return Inventory(subject_table, entries, own)


def view(state: AvgState) -> Inventory:
    """The inventory for a reader (the board's page); audited as ``inventory.view``, with
    how many columns are flagged, and committed."""
    inv = build(state)
    flagged = len(inv.flagged) + len(inv.flagged_tables)
    state.audit.record("inventory.view", detail={"flagged": flagged})
    state.db.session.commit()
    return inv


def _column(
    table: str,
    col: Any,
    model: Any,
    keys: set[str],
    linked: bool,
    ignore: tuple[str, ...] | list[str],
    *,
    in_code: bool,
) -> ColumnEntry:
    type_name = _type_name(col.type)
    if model is not None and col.name in model.columns:
        return ColumnEntry(col.name, type_name, PERSONAL, model.columns[col.name].category)
    if col.name in keys:
        return ColumnEntry(col.name, type_name, KEY, in_code=in_code)
    reason = col.info.get(NOT_PERSONAL_KEY) if in_code else None
    if reason:
        return ColumnEntry(col.name, type_name, REVIEWED, str(reason))
    if f"{table}.{col.name}" in ignore:
        return ColumnEntry(col.name, type_name, REVIEWED, "--ignore", in_code=in_code)
    if linked and _is_text(col.type):
        note = "undeclared text on a table linked to a person"
        return ColumnEntry(col.name, type_name, FLAGGED, note, in_code=in_code)
    return ColumnEntry(col.name, type_name, OTHER, in_code=in_code)


def _type_name(col_type: Any) -> str:
    try:
        return str(col_type)
    except Exception:  # noqa: BLE001 - some dialect types cannot render without their dialect
        return str(col_type.__class__.__name__)


def _path(
    start: str, goals: set[str], fks: list[tuple[str, str, str]], unique: dict[str, set[str]]
) -> list[str] | None:
    """Tables from ``start`` to the subject (or login) table where each row belongs to
    one member.

    Up a foreign key (child to parent) always; down (parent to child) only
    through a unique foreign key, a one-to-one link. A lookup table reached
    through a many-to-many association is not a member's data.
    """
    if start in goals:
        return [start]
    queue: deque[list[str]] = deque([[start]])
    seen = {start}
    while queue:
        path = queue.popleft()
        here = path[-1]
        steps = [parent for child, _c, parent in fks if child == here]
        steps += [
            child
            for child, col, parent in fks
            if parent == here and col in unique.get(child, set())
        ]
        for nxt in steps:
            if nxt in seen:
                continue
            if nxt in goals:
                return [*path, nxt]
            seen.add(nxt)
            queue.append([*path, nxt])
    return None


def render_text(inv: Inventory) -> list[str]:
    """The inventory as printable lines (for the CLI)."""
    lines: list[str] = []
    for table in inv.tables:
        role = f"declared as {table.declared_as}" if table.declared_as else "not declared"
        if table.reviewed:
            role += f", reviewed: {table.reviewed}"
        where = [] if table.in_database else ["not in the database yet"]
        if not table.in_code:
            where.append("no model in the code")
        link = f"linked: {' -> '.join(table.path)}" if table.linked and table.path else ""
        extra = ", ".join(x for x in (role, link, *where) if x)
        lines.append(f"{'!! ' if table.undeclared_link else ''}{table.name} ({extra})")
        for col in table.columns:
            mark = "!!" if col.status == FLAGGED else "  "
            note = f" - {col.note}" if col.note else ""
            lines.append(f"  {mark} {col.name} [{col.type}] {col.status}{note}")
    if inv.own:
        lines.append(f"flask-avg's own records: {len(inv.own)} tables ({', '.join(inv.own)})")
    return lines


def problems(inv: Inventory) -> list[str]:
    """One line per flagged table or column, saying how to settle it."""
    out = [
        f"{t.name}: links to a member ({' -> '.join(t.path)}) but is not declared; "
        + DECLARE_TABLE_HINT
        for t in inv.flagged_tables
    ]
    out += [
        f"{table}.{col.name}: possible personal data; declare it with personal(...) "
        "or mark it not_personal(...)"
        for table, col in inv.flagged
    ]
    return out
