"""One-click export of personal data (AVG art. 15 and 20): Excel, JSON and CSV.

* :mod:`.document` turns a member's data (the pages' own :func:`~flask_avg.core.presenters.collect`)
  into a format-neutral document;
* :mod:`.writers` lays it out as a workbook, a JSON document or a zip of CSV files;
* :mod:`.lists` writes the board's member list and the audit log in constant memory;
* :mod:`.safety` keeps cells from running as formulas and fits values to each format.

:func:`export_subject` is what the views and the CLI call: build, write, audit, signal.
"""

from __future__ import annotations

from typing import IO, Any

from flask import current_app

from flask_avg.core.signals import data_exported
from flask_avg.features.export.document import SCHEMA_VERSION, ExportDocument, build
from flask_avg.features.export.formats import SUBJECT_FORMATS
from flask_avg.features.export.writers import write

__all__ = [
    "SCHEMA_VERSION",
    "ExportDocument",
    "build",
    "export_subject",
    "record_list_export",
    "schema_path",
]


def schema_path() -> str:
    """Path of the JSON schema shipped with the package (``schema-v1.json``)."""
    from pathlib import Path

    return str(Path(__file__).with_name("schema-v1.json"))


def export_subject(
    state: Any,
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
    state: Any, action: str, fmt: str, count: int, *, actor: str | None, **detail: Any
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
