"""The anonymised copy: the host's whole database, copied with every personal value replaced.

``from flask_avg.features.safecopy.service import anonymised_copy`` is the public entry.

Each table is read with one ``SELECT`` in which every declared personal column is
replaced by the value erasure would give it (the same anonymisers,
:mod:`flask_avg.features.retention.anonymise`): the source database computes the
replacements, so no personal value ever leaves it, not even into the copy's free
pages. Primary and foreign keys are copied as they are, so every foreign key still
resolves; unique columns get values derived from the row's key, so unique
constraints hold. Secrets (declared, or named like one) are nulled or get a fresh
random value. Encrypted columns (declared ``encrypted``, or of the type
:class:`flask_avg.Encrypted`) never carry a value of the source into the copy: they
are blanked (NULL), or hold their declared ``anonymise="fixed"`` value (an empty text
when NOT NULL) sealed under a throw-away key made for the copy
(:attr:`CopyResult.keys`: give it to the copy's app as ``AVG_ENCRYPTION_KEYS``), so
the production keys never meet the copy; flask-avg's records
about people (audit log, erasure ledger, requests, consent records, mails, jobs)
are left empty, its configuration (settings, groups, rules, consent texts) and
its version stamps are kept.
With ``strict``, undeclared text columns in which the scan finds personal data
are blanked too.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Date,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    func,
    insert,
    inspect,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.exc import SAWarning
from sqlalchemy.sql.elements import quoted_name
from sqlalchemy.sql.util import ClauseAdapter

from flask_avg.core import crypto
from flask_avg.core.models import AvgBase
from flask_avg.core.registry import looks_secret
from flask_avg.features.retention import anonymise

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: flask-avg's tables copied as they are: configuration, not records about people
#: (``avg_stamp`` holds the version stamps' tokens, seeded when the table is made)
KEPT_OWN = frozenset(
    {"avg_setting", "avg_group", "avg_group_member", "avg_rule"}
    | {"avg_consent_purpose", "avg_consent_text", "avg_stamp"}
)


class CopyError(RuntimeError):
    """The copy cannot be made (the target is not empty, say); nothing was copied."""


@dataclass
class CopyResult:
    #: rows copied per table
    rows: dict[str, int] = field(default_factory=dict)
    #: ``table.column`` anonymised or blanked, per reason
    anonymised: list[str] = field(default_factory=list)
    blanked: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    #: ``table.column`` of encrypted columns whose anonymised value was sealed under
    #: the copy's throw-away key
    sealed: list[str] = field(default_factory=list)
    #: the throw-away key (``"id:base64"``, for the copy's ``AVG_ENCRYPTION_KEYS``);
    #: None when no value was sealed (every encrypted column blanked)
    keys: str | None = None


def encrypted(col: Any, spec: Any = None) -> bool:
    """Whether a column is declared encrypted: ``info={"encrypted": True}`` (or a
    ``Personal`` declaration with ``encrypted=True``); read defensively, so hosts
    and versions without encrypted columns simply have none."""
    info = getattr(col, "info", None) or {}
    if info.get("encrypted"):
        return True
    declared = info.get("avg", spec)
    return bool(getattr(declared, "encrypted", False) or getattr(spec, "encrypted", False))


def _unique(col: Any, table: Table) -> bool:
    if col.unique:
        return True
    singles = [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    singles += [list(ix.columns) for ix in table.indexes if ix.unique]
    return any(len(cols) == 1 and cols[0].name == col.name for cols in singles)


def _blank(col: Any, table: Table) -> Any:
    if col.nullable:
        return null()
    if isinstance(col.type, String):
        pk = list(table.primary_key.columns)
        if _unique(col, table) and pk:
            return literal("anon-", String) + cast(pk[0], String(40))
        return literal("", String)
    if isinstance(col.type, LargeBinary) and not _unique(col, table):
        return literal(b"", LargeBinary)
    return None


def _plain_types(table: Table) -> Table:
    """Encrypted columns of a copied table written as stored text: the copy's values
    are sealed here, under the copy's key, never again by the column's type."""
    for col in table.columns:
        if crypto.is_encrypted(col):
            col.type = Text()
    return table


def _generic(table: Table, md: MetaData, same_dialect: bool) -> Table:
    """A reflected table rebuilt with generic types, for another engine."""
    copy = table.to_metadata(md)
    for col in copy.columns:
        if not same_dialect:
            try:
                col.type = col.type.as_generic()
            except NotImplementedError:
                col.type = String()
            col.server_default = None
    for ix in list(copy.indexes):
        if ix.name:  # index names are per database on SQLite and PostgreSQL
            ix.name = quoted_name(f"ix_{copy.name}_{ix.name}"[:60], None)
    return copy


def _reflect(engine: Any) -> MetaData:
    meta = MetaData()
    meta.reflect(bind=engine)
    return meta


def _sorted(md: MetaData) -> list[Table]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # a cycle: order as well as we can
        return list(md.sorted_tables)


def anonymised_copy(
    state: AvgState,
    url: str,
    *,
    strict: bool = False,
    batch_size: int = 1000,
    suspicious: Iterable[str] = (),
    keys: str | None = None,
) -> CopyResult:
    """Copy the host's database into the empty database at ``url``, anonymised.

    ``suspicious`` names undeclared ``table.column`` to blank besides what the scan
    finds with ``strict``. ``keys`` (``"id:base64"``) seals the anonymised values of
    encrypted columns; by default a fresh throw-away key, returned in the result.
    """
    source = state.db.engine
    target = create_engine(url)
    ring = crypto.Keyring.parse(keys or f"copy:{crypto.generate_key()}")
    try:
        result = _copy(state, source, target, strict, batch_size, set(suspicious), ring)
    finally:
        target.dispose()
    if result.sealed:
        result.keys = keys or f"copy:{base64.b64encode(ring.keys['copy']).decode()}"
    return result


def _copy(
    state: AvgState,
    source: Any,
    target: Any,
    strict: bool,
    batch_size: int,
    blank: set[str],
    ring: crypto.Keyring,
) -> CopyResult:
    if inspect(target).get_table_names():
        raise CopyError("the target database already has tables: give an empty one")
    if strict:
        from flask_avg.features.scan.service import scan

        blank |= {c.name for c in scan(state).undeclared}
    same = source.dialect.name == target.dialect.name
    known = {**state.db.metadata.tables, **AvgBase.metadata.tables}
    models = {m.table.name: m for m in state.registry}
    reflected = _reflect(source)
    out_md = MetaData()
    pairs: dict[str, tuple[Table, Table]] = {}
    for table in _sorted(reflected):
        model_table = known.get(table.name)
        if model_table is not None and set(model_table.c.keys()) == set(table.c.keys()):
            src = model_table
            dst = _plain_types(model_table.to_metadata(out_md))
        else:
            src = table
            dst = _generic(table, out_md, same)
        pairs[table.name] = (src, dst)
    out_md.create_all(target)

    result = CopyResult()
    own = set(AvgBase.metadata.tables) | {n for n in pairs if n.startswith("avg_")}
    for table in _sorted(out_md):
        src, dst = pairs[table.name]
        if table.name in own and table.name not in KEPT_OWN:
            result.emptied.append(table.name)
            result.rows[table.name] = 0
            continue
        mysql = source.dialect.name in ("mysql", "mariadb")
        exprs = _select_list(src, models.get(table.name), blank, result, mysql, ring)
        query = select(*exprs)
        n = 0
        with source.connect() as sc, target.begin() as tc:
            rows = sc.execution_options(stream_results=True, yield_per=batch_size).execute(query)
            for part in rows.mappings().partitions():
                tc.execute(insert(dst), [dict(r) for r in part])
                n += len(part)
        result.rows[table.name] = n
    if target.dialect.name == "postgresql":
        _reset_sequences(target, out_md)
    return result


def _select_list(
    src: Table, model: Any, blank: set[str], result: CopyResult, mysql: bool, ring: Any
) -> list[Any]:
    raw_values = anonymise.values(model, keyring=ring) if model is not None else {}
    values: dict[str, Any] = anonymise.sql(raw_values)
    if model is not None and src is not model.table:
        # the database's table differs from the model's (a column added by hand, a
        # migration not run): the replacements refer to the database's columns instead
        adapter = ClauseAdapter(src, adapt_on_names=True)
        values = {k: adapter.traverse(v) for k, v in values.items() if k in src.c}
    exprs = []
    for col in src.columns:
        name = f"{src.name}.{col.name}"
        spec = model.columns.get(col.name) if model is not None else None
        declared = model.table.c.get(col.name) if model is not None else None
        fixed = raw_values.get(col.name)
        if crypto.is_encrypted(declared) or crypto.is_encrypted(col):
            if isinstance(fixed, anonymise.Derived) and fixed.pattern == f"{crypto.CONSTANT}:%":
                expr = values[col.name]  # the declared constant, under the copy's key
                result.sealed.append(name)
            elif col.nullable:
                expr = null()
                result.blanked.append(name)
            else:  # NOT NULL: an empty text, sealed
                expr = literal(ring.seal_constant("", src.name, col.name), Text())
                result.sealed.append(name)
        elif encrypted(col, spec) or encrypted(declared) or name in blank:
            expr = _blank(col, src)
            if expr is None:
                raise CopyError(f"{name} cannot be blanked: it is NOT NULL and not text")
            result.blanked.append(name)
        elif col.name in values:
            expr = values[col.name]
            result.anonymised.append(name)
        elif model is None and not col.primary_key and not col.foreign_keys and looks_secret(col):
            expr = null() if col.nullable else anonymise.random_hex(32)
            result.anonymised.append(name)
        else:
            exprs.append(col)
            continue
        if expr is None:
            expr = col
        elif mysql and isinstance(col.type, Date | DateTime):
            expr = cast(expr, col.type)  # MariaDB hands a bare date literal back as text
        exprs.append(expr.label(col.name))
    return exprs


def _reset_sequences(engine: Any, md: MetaData) -> None:
    """PostgreSQL: serial sequences start after the copied keys."""
    with engine.begin() as conn:
        for table in md.sorted_tables:
            pk = list(table.primary_key.columns)
            if len(pk) != 1 or not pk[0].autoincrement:
                continue
            seq = conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}
            )
            if seq:
                top = conn.scalar(select(func.max(pk[0])))
                conn.execute(text("SELECT setval(:s, :v, false)"), {"s": seq, "v": (top or 0) + 1})
