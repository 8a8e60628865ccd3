"""The export formats: file extension, media type and writer of each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    key: str
    extension: str
    mimetype: str
    label: str


XLSX = Format(
    "xlsx",
    "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "Excel",
)
JSON = Format("json", "json", "application/json", "JSON")
CSV_ZIP = Format("csv", "zip", "application/zip", "CSV")
CSV = Format("csv", "csv", "text/csv; charset=utf-8", "CSV")

#: Formats of one member's export, by key.
SUBJECT_FORMATS: dict[str, Format] = {f.key: f for f in (XLSX, JSON, CSV_ZIP)}
#: Formats of the board's member list, by key.
LIST_FORMATS: dict[str, Format] = {f.key: f for f in (XLSX, CSV)}
#: CSV separators offered for the audit log (Dutch Excel expects ``;``).
SEPARATORS = (",", ";")
