"""The free-text scan: every text column of the host's database, declared or not.

``from flask_avg.features.scan.service import scan`` is the public entry; the
safe copy uses it for ``--strict`` and ``flask avg inventory --scan`` for CI.

The live database is reflected (so tables no model knows show up too) and each
table's text columns are read in batches of ``batch_size`` rows, streamed, never
loaded whole; ``sample`` reads only the first rows of every table.

Columns stored encrypted (type :class:`flask_avg.core.crypto.Encrypted`) are
listed as encrypted and not read: their stored values are ciphertext, in which
no recogniser can find anything, and the scan does not decrypt Art. 9 data in
bulk to look inside. Such a column is declared by construction (``init_app``
checks it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Enum, MetaData, String, Table, select

from flask_avg.core.crypto import is_encrypted
from flask_avg.core.models import AvgBase
from flask_avg.features.scan.detect import CATEGORIES, KINDS, find, mask, require

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: ``info`` key of a column reviewed as not personal (``accountability.inventory.not_personal``)
NOT_PERSONAL_KEY = "avg_not_personal"
#: masked examples kept per column and kind
EXAMPLES = 3


@dataclass
class ColumnScan:
    """What the scan found in one column."""

    table: str
    column: str
    #: the declared category, or None for an undeclared column
    declared: str | None
    #: flask-avg's own table (the audit log, requests): reported, never a CI failure
    own: bool = False
    #: why the column was reviewed as not personal (``not_personal``, ``--ignore``)
    reviewed: str = ""
    #: stored encrypted: listed, never read (its values are ciphertext)
    encrypted: bool = False
    values: int = 0
    #: values holding personal data of any kind
    personal: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def mismatched(self) -> list[str]:
        """Kinds found in a declared column that its category does not cover."""
        if self.declared is None:
            return []
        return [k for k in self.counts if self.declared not in CATEGORIES[k]]

    @property
    def undeclared(self) -> bool:
        """Personal data in a column nobody declared or reviewed."""
        return bool(self.counts) and self.declared is None and not self.own and not self.reviewed


@dataclass
class ScanReport:
    tables: int = 0
    values: int = 0
    seconds: float = 0.0
    columns: list[ColumnScan] = field(default_factory=list)

    @property
    def found(self) -> list[ColumnScan]:
        return [c for c in self.columns if c.counts]

    @property
    def undeclared(self) -> list[ColumnScan]:
        return [c for c in self.columns if c.undeclared]

    @property
    def mismatched(self) -> list[ColumnScan]:
        return [c for c in self.columns if c.mismatched]

    @property
    def encrypted(self) -> list[ColumnScan]:
        """Columns stored encrypted: listed, not read."""
        return [c for c in self.columns if c.encrypted]

    def column(self, table: str, column: str) -> ColumnScan:
        for c in self.columns:
            if c.table == table and c.column == column:
                return c
        raise KeyError(f"{table}.{column}")


def _text(col: Any) -> bool:
    return isinstance(col.type, String | JSON) and not isinstance(col.type, Enum)


def declared_categories(state: AvgState) -> dict[tuple[str, str], str]:
    """``{(table, column): category}`` of every declared personal column."""
    return {
        (m.table.name, name): spec.category
        for m in state.registry
        for name, spec in m.columns.items()
    }


def _reviewed(state: AvgState, table: str, column: str, ignore: Iterable[str]) -> str:
    ignored = set(ignore)
    if table in ignored or f"{table}.{column}" in ignored:
        return "--ignore"
    model_table = state.db.metadata.tables.get(table)
    if model_table is None:
        return ""
    if NOT_PERSONAL_KEY in model_table.info:
        return str(model_table.info[NOT_PERSONAL_KEY])
    col = model_table.c.get(column)
    return str(col.info.get(NOT_PERSONAL_KEY, "")) if col is not None else ""


def _encrypted(state: AvgState, table: str, column: str) -> bool:
    model_table = state.db.metadata.tables.get(table)
    col = model_table.c.get(column) if model_table is not None else None
    return col is not None and is_encrypted(col)


def reflect(state: AvgState) -> list[Table]:
    """Every table of the host's database as it is now (not as the models say)."""
    meta = MetaData()
    meta.reflect(bind=state.db.engine)
    # by name, not by foreign keys: tables that refer to each other need no order here
    return [meta.tables[n] for n in sorted(meta.tables) if n != "alembic_version"]


def scan(
    state: AvgState,
    *,
    sample: int | None = None,
    batch_size: int = 1000,
    tables: Iterable[str] = (),
    ignore: Iterable[str] = (),
    today: date | None = None,
) -> ScanReport:
    """Scan the text columns of every table (or of ``tables``); see the module's docstring."""
    require()
    started = time.perf_counter()
    wanted = set(tables)
    declared = declared_categories(state)
    own = set(AvgBase.metadata.tables)
    ignore = tuple(ignore)
    report = ScanReport()
    today = today or date.today()
    for table in reflect(state):
        if wanted and table.name not in wanted:
            continue
        cols = [c for c in table.columns if _text(c)]
        if not cols:
            continue
        report.tables += 1
        found = [
            ColumnScan(
                table.name,
                c.name,
                declared.get((table.name, c.name)),
                own=table.name in own or table.name.startswith("avg_"),
                reviewed=_reviewed(state, table.name, c.name, ignore),
                encrypted=_encrypted(state, table.name, c.name),
            )
            for c in cols
        ]
        report.columns.extend(found)
        found = [entry for entry in found if not entry.encrypted]
        if not found:
            continue
        query = select(*(c for c in cols if c.name in {entry.column for entry in found}))
        if sample is not None:
            query = query.limit(sample)
        with state.db.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                query
            )
            for batch in result.partitions():
                for row in batch:
                    for entry, value in zip(found, row, strict=True):
                        if value is None:
                            continue
                        entry.values += 1
                        report.values += 1
                        _count(entry, find(value, today))
    report.seconds = time.perf_counter() - started
    return report


def _count(entry: ColumnScan, kinds: dict[str, list[str]]) -> None:
    if kinds:
        entry.personal += 1
    for kind, matches in kinds.items():
        entry.counts[kind] = entry.counts.get(kind, 0) + 1
        examples = entry.examples.setdefault(kind, [])
        if len(examples) < EXAMPLES:
            shown = mask(matches[0])
            if shown not in examples:
                examples.append(shown)


def render(report: ScanReport, *, everything: bool = False) -> list[str]:
    """The report as lines of text: one per column holding personal data."""
    lines = []
    for c in report.columns:
        if not (everything or c.counts or c.encrypted):
            continue
        if c.encrypted:
            lines.append(f"{c.name} (encrypted): not read")
            continue
        if c.own:
            status = "flask-avg's own"
        elif c.declared:
            status = f"declared: {c.declared}"
        elif c.reviewed:
            status = f"reviewed: {c.reviewed}"
        else:
            status = "UNDECLARED"
        kinds = ", ".join(
            f"{k} {c.counts[k]} ({', '.join(c.examples[k])})" for k in KINDS if k in c.counts
        )
        line = f"{c.name} ({status}): {c.personal} of {c.values} value(s)"
        line += f": {kinds}" if kinds else ""
        if c.mismatched:
            line += f"  MISMATCH: {', '.join(c.mismatched)} in a {c.declared} column"
        lines.append(line)
    lines.append(
        f"{report.values} value(s) in {report.tables} table(s) scanned in {report.seconds:.1f} s; "
        f"{len(report.found)} column(s) hold personal data, {len(report.undeclared)} undeclared, "
        f"{len(report.mismatched)} declared under another category, "
        f"{len(report.encrypted)} encrypted (not read)."
    )
    return lines
