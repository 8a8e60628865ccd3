"""One-click export of personal data (AVG art. 15 and 20): Excel, JSON and CSV.

* :mod:`.document` turns a member's data (the pages' own :func:`~flask_avg.core.presenters.collect`)
  into a format-neutral document;
* :mod:`.writers` lays it out as a workbook, a JSON document or a zip of CSV files;
* :mod:`.lists` writes the board's member list and the audit log in constant memory;
* :mod:`.safety` keeps cells from running as formulas and fits values to each format.

:func:`export_subject`, :func:`export_member_list` and :func:`export_audit_log` are what
the views and the CLI call: build, write, audit, signal (the caller commits).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from flask import current_app

from flask_avg.core.presenters import member_list_query
from flask_avg.core.signals import data_exported
from flask_avg.features.export.document import SCHEMA_VERSION, ExportDocument, build
from flask_avg.features.export.formats import LIST_FORMATS, SUBJECT_FORMATS, csv_delimiter
from flask_avg.features.export.lists import (
    member_columns,
    member_headers,
    write_audit_csv,
    write_members_csv,
    write_members_xlsx,
)
from flask_avg.features.export.writers import write

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

__all__ = [
    "SCHEMA_VERSION",
    "ExportDocument",
    "build",
    "export_audit_log",
    "export_member_list",
    "export_subject",
    "record_list_export",
    "schema_path",
]


def schema_path() -> str:
    """Path of the JSON schema shipped with the package (``schema-v1.json``)."""
    from pathlib import Path

    return str(Path(__file__).with_name("schema-v1.json"))


def export_subject(
    state: AvgState,
    subject: Any,
    fmt: str,
    out: IO[bytes],
    *,
    special: bool,
    actor: str | None,
    requester: str | None = None,
    action: str = "export.subject",
) -> ExportDocument:
    """Write ``subject``'s data as ``fmt`` to ``out``, audit who exported it, send the signal.

    The audit entry is added to the caller's transaction (commit it); ``actor``
    is the login id kept in the audit log; ``requester`` the readable name
    (an e-mail address) shown on the cover sheet, defaulting to ``actor``.
    """
    if fmt not in SUBJECT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(SUBJECT_FORMATS)})")
    doc = build(state, subject, special=special, actor=requester or actor)
    write(doc, fmt, out)
    state.audit.record(
        action,
        subject=doc.subject_id,
        fields=sorted({f"{t.name}.{c.name}" for t in doc.tables for c in t.columns}),
        detail={
            "format": fmt,
            "special": special,
            "models": len(doc.tables),
            "rows": doc.row_count,
        },
        actor=actor,
    )
    data_exported.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        subject_id=doc.subject_id,
        format=fmt,
        actor=actor,
    )
    return doc


def record_list_export(
    state: AvgState, action: str, fmt: str, count: int, *, actor: str | None, **detail: Any
) -> None:
    """Audit a list export (the member list, the audit log) and send ``data_exported``.

    The search text is left out on purpose: it may be a member's name.
    """
    state.audit.record(action, detail={"format": fmt, "rows": count, **detail}, actor=actor)
    data_exported.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        subject_id=None,
        format=fmt,
        actor=actor,
    )


def export_member_list(
    state: AvgState, fmt: str, out: IO[bytes], *, query: str = "", special: bool, actor: str | None
) -> int:
    """Write the board's member list as ``fmt`` (``xlsx`` or ``csv``) to ``out``; returns the rows.

    The columns are the list page's (special categories only when ``special``), the
    members those whose text columns contain ``query``, as on the page. Audited as
    ``export.members`` in the caller's transaction (commit it); sends ``data_exported``.
    """
    if fmt not in LIST_FORMATS:
        raise ValueError(f"unknown list format {fmt!r} (known: {', '.join(LIST_FORMATS)})")
    columns = member_columns(state, special=special)
    stmt = member_list_query(state, columns, query)
    headers = member_headers(state, columns)
    write = write_members_xlsx if fmt == "xlsx" else write_members_csv
    count = write(state, stmt, headers, out)
    record_list_export(state, "export.members", fmt, count, actor=actor, filtered=bool(query))
    return count


def export_audit_log(
    state: AvgState, out: IO[bytes], *, separator: str | None = None, actor: str | None
) -> int:
    """Write the whole audit log as CSV (``separator`` ``,`` or ``;``, by default
    :func:`~.formats.csv_delimiter`) to ``out``; returns the rows.

    Audited as ``export.audit`` in the caller's transaction (commit it); sends ``data_exported``.
    """
    separator = separator or csv_delimiter()
    count = write_audit_csv(state, out, separator)
    record_list_export(state, "export.audit", "csv", count, actor=actor, separator=separator)
    return count
