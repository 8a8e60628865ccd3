"""The export formats: file extension, media type and writer of each."""

from __future__ import annotations

from dataclasses import dataclass

from flask import has_request_context
from flask_babel import get_locale

from flask_avg.core.config import config_value


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
#: one CSV file per kind of data, in a zip: the button and the file name say so
CSV_ZIP = Format("csv", "zip", "application/zip", "CSV (zip)")
CSV = Format("csv", "csv", "text/csv; charset=utf-8", "CSV")

#: Formats of one member's export, by key.
SUBJECT_FORMATS: dict[str, Format] = {f.key: f for f in (XLSX, JSON, CSV_ZIP)}
#: Formats of the board's member list, by key.
LIST_FORMATS: dict[str, Format] = {f.key: f for f in (XLSX, CSV)}
#: CSV separators offered (Dutch Excel expects ``;``, English Excel ``,``).
SEPARATORS = (",", ";")
#: Languages whose spreadsheets use a decimal point, so ``,`` separates the list;
#: elsewhere (Dutch, German, French, ...) the comma is the decimal sign and ``;`` separates.
COMMA_LOCALES = ("en", "ja", "ko", "zh", "he", "th")


def csv_delimiter() -> str:
    """The separator for a CSV file: ``AVG_CSV_DELIMITER`` when set, else by the page's
    language: ``,`` for English, ``;`` for Dutch (and other decimal-comma languages)."""
    configured = config_value("CSV_DELIMITER")
    if configured:
        return str(configured)
    locale = get_locale() if has_request_context() else None
    language = locale.language if locale is not None else config_value("DEFAULT_LOCALE")
    return "," if str(language).split("_")[0] in COMMA_LOCALES else ";"
