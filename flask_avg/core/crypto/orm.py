"""The ORM hands each value its row: flush hooks seal to the row's key (see the package doc)."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    Text,
    and_,
    bindparam,
    event,
    inspect,
    select,
    type_coerce,
    update,
)

from flask_avg.core.crypto.column import BoundText, bound_text, is_encrypted, row_sql, row_text
from flask_avg.core.crypto.keyring import CryptoError, current_keyring

# -- the ORM hands each value its row (see the module doc) ------------------------------

_sealed_attrs: weakref.WeakKeyDictionary[Any, list[tuple[str, Column[Any]]]] = (
    weakref.WeakKeyDictionary()
)
_installed = False


def _attrs(mapper: Any) -> list[tuple[str, Column[Any]]]:
    """``(attribute key, column)`` of the mapper's encrypted columns."""
    found = _sealed_attrs.get(mapper)
    if found is None:
        found = [
            (prop.key, col)
            for prop in mapper.column_attrs
            for col in prop.columns
            if isinstance(col, Column) and is_encrypted(col) and col.table in mapper.tables
        ]
        _sealed_attrs[mapper] = found
    return found


def _key_values(mapper: Any, state: Any, table: Table) -> list[Any]:
    out = []
    for pk in table.primary_key.columns:
        try:
            prop = mapper.get_property_by_column(pk)
        except Exception:  # noqa: BLE001 (a key column the mapper does not map)
            return []
        out.append(state.dict.get(prop.key))
    return out


def _before_flush_row(mapper: Any, connection: Any, target: Any, insert: bool) -> None:
    attrs = _attrs(mapper)
    if not attrs:
        return
    state = inspect(target)
    moved = False
    if not insert:
        moved = any(
            state.attrs[mapper.get_property_by_column(pk).key].history.has_changes()
            for table in {col.table for _, col in attrs}
            for pk in table.primary_key.columns
        )
    for key, col in attrs:
        if not insert and not moved and not state.attrs[key].history.has_changes():
            continue
        value = getattr(target, key) if moved else state.dict.get(key)
        if value is None or not isinstance(value, str):
            continue  # None is NULL; a wrong type is refused by the column's type
        row = row_text(col.table, _key_values(mapper, state, col.table))
        state.dict[key] = bound_text(value, row)
        if moved:
            from sqlalchemy.orm.attributes import flag_modified

            flag_modified(target, key)


def _after_flush_row(mapper: Any, connection: Any, target: Any) -> None:
    attrs = _attrs(mapper)
    if not attrs:
        return
    state = inspect(target)
    late: dict[Table, dict[str, str]] = {}
    for key, col in attrs:
        value = state.dict.get(key)
        if isinstance(value, BoundText):
            state.dict[key] = str(value)  # the object keeps a plain str
            if value.avg_row is None:
                late.setdefault(col.table, {})[col.name] = str(value)
    for table, plain in late.items():
        keys = _key_values(mapper, state, table)
        _seal_in_row(connection, table, keys, plain)


def _seal_in_row(connection: Any, table: Table, keys: list[Any], plain: dict[str, str]) -> None:
    """Seal ``{column: plain text}`` to the row with primary key ``keys`` (written
    column-bound a moment ago): one ``UPDATE``."""
    pks = list(table.primary_key.columns)
    where = and_(*(pk == value for pk, value in zip(pks, keys, strict=True)))
    row = row_text(table, keys)
    if row is None:
        row = connection.scalar(select(row_sql(pks)).where(where))
    if row is None:
        raise CryptoError(f"{table.name}: the row just written has no key to seal its values to")
    keyring = current_keyring()
    sealed = {
        name: type_coerce(keyring.seal(text, table.name, name, row), Text())
        for name, text in plain.items()
    }
    connection.execute(update(table).where(where).values(sealed))


def _bulk_insert(orm_state: Any) -> Any:
    """``session.execute(insert(Model), [rows])``: the ORM's bulk insert skips the
    flush hooks, so rows are sealed here: to the key a row names, or to the key the
    database returns (``RETURNING``), one ``UPDATE`` per batch."""
    if not orm_state.is_insert or not orm_state.is_executemany:
        return None
    stmt = orm_state.statement
    table = getattr(stmt, "table", None)
    mapper = orm_state.bind_mapper
    if not isinstance(table, Table) or mapper is None:
        return None
    table = table._deannotate()  # the ORM's statement names an annotated copy
    attrs = [(k, c) for k, c in _attrs(mapper) if c.table is table]
    pks = list(table.primary_key.columns)
    if not attrs or not pks:
        return None
    rows: list[dict[str, Any]] = list(orm_state.parameters)
    pk_keys = [mapper.get_property_by_column(pk).key for pk in pks]
    texts = [row_text(table, [r.get(k) for k in pk_keys]) for r in rows]
    if all(t is not None for t in texts):
        params = [
            {k: bound_text(r[k], t) for k, _ in attrs if isinstance(r.get(k), str)}
            for r, t in zip(rows, texts, strict=True)
        ]
        return orm_state.invoke_statement(params=params)
    dialect = orm_state.session.get_bind(mapper=mapper).dialect
    if stmt._returning or not getattr(dialect, "insert_returning", False):
        return None  # written column-bound; rotate-keys seals them to their rows
    params = [
        {k: bound_text(r[k], None) for k, _ in attrs if isinstance(r.get(k), str)} for r in rows
    ]
    result = orm_state.invoke_statement(
        statement=stmt.returning(*pks, sort_by_parameter_order=True), params=params
    )
    made = result.all()
    keyring = current_keyring()
    conn = orm_state.session.connection(bind_arguments={"mapper": mapper})
    by_cols: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r, key in zip(rows, made, strict=True):
        plain = {c.name: r[k] for k, c in attrs if isinstance(r.get(k), str)}
        if not plain:
            continue
        row = row_text(table, list(key)) or conn.scalar(
            select(row_sql(pks)).where(and_(*(pk == v for pk, v in zip(pks, key, strict=True))))
        )
        entry = {f"avg_k{i}": v for i, v in enumerate(key)}
        entry.update({f"avg_v_{n}": keyring.seal(t, table.name, n, row) for n, t in plain.items()})
        by_cols.setdefault(tuple(sorted(plain)), []).append(entry)
    for names, entries in by_cols.items():
        conn.execute(
            update(table)
            .where(*(pk == bindparam(f"avg_k{i}") for i, pk in enumerate(pks)))
            .values({n: type_coerce(bindparam(f"avg_v_{n}"), Text()) for n in names}),
            entries,
        )
    return result


def install() -> None:
    """Add the flush hooks that bind encrypted values to their rows (once per process)."""
    global _installed
    if _installed:
        return
    from sqlalchemy.orm import Mapper, Session

    event.listen(Mapper, "before_insert", lambda m, c, t: _before_flush_row(m, c, t, insert=True))
    event.listen(Mapper, "before_update", lambda m, c, t: _before_flush_row(m, c, t, insert=False))
    event.listen(Mapper, "after_insert", _after_flush_row)
    event.listen(Mapper, "after_update", _after_flush_row)
    event.listen(Session, "do_orm_execute", _bulk_insert)
    _installed = True


def host_metadatas(db: Any) -> dict[str | None, Any]:
    """The host's metadata per bind key (Flask-SQLAlchemy 3: ``db.metadatas``)."""
    found = getattr(db, "metadatas", None)
    return dict(found) if found else {None: db.metadata}
