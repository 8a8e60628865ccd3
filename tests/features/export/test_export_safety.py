"""Cell safety and the writers on edge cases: time zones, NULLs, very long text, the schema."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from flask_avg.features.export.document import (
    SCHEMA_ID,
    SCHEMA_VERSION,
    ExportCategory,
    ExportColumn,
    ExportDocument,
    ExportTable,
)
from flask_avg.features.export.safety import (
    EXCEL_CELL_LIMIT,
    TRUNCATION_MARKER,
    excel_value,
    json_value,
    neutralise,
    sheet_name,
    text_value,
)
from flask_avg.features.export.service import schema_path
from flask_avg.features.export.writers import json_document, write
from tests.support import ROOT as REPO
from tests.support.export import read_xlsx, read_zip

CEST = timezone(timedelta(hours=2))
AWARE = datetime(2024, 5, 1, 12, 30, tzinfo=CEST)
LONG = "a" * 40_000


@pytest.mark.parametrize(
    "start", ["=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff20"]
)
def test_neutralise_prefixes_formula_starters(start):
    assert neutralise(start + "1+1") == "'" + start + "1+1"


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("Kerkweg 1;=cmd|' /C calc'!A0;", "Kerkweg 1;'=cmd|' /C calc'!A0;"),
        ("a,@SUM(1+1)", "a,'@SUM(1+1)"),
        ('a"=1', "a\"'=1"),
        ("regel 1\n=1+1", "regel 1\n'=1+1"),
        ("a;\t=1", "a;\t'=1"),
        ("x; -2+3+cmd|' /C calc'!A0", "x; '-2+3+cmd|' /C calc'!A0"),
        ("a\uff1b\uff1d1", "a\uff1b'\uff1d1"),
        ("\t=1", "'\t'=1"),
        (" =1", " '=1"),
    ],
)
def test_neutralise_catches_formulas_after_a_separator_quote_or_line_break(text, safe):
    assert neutralise(text) == safe
    assert neutralise(safe) == safe  # once is enough


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Jan",
        "06-1234",
        "a=b",
        "'quoted",
        "-12.50",
        "+31 6 1234 5678",
        "2024-05-01",
        "3511 AB",
        "Jan - Piet",
        "de Vries, Jan",
        "saldo;-5",
        "regel 1\r\nregel 2",
    ],
)
def test_neutralise_leaves_ordinary_text(text):
    assert neutralise(text) == text


def test_excel_values_keep_types_and_convert_aware_datetimes_to_utc():
    assert excel_value(AWARE) == (datetime(2024, 5, 1, 10, 30), False)
    assert excel_value(datetime(2024, 5, 1, 10, 30)) == (datetime(2024, 5, 1, 10, 30), False)
    assert excel_value(date(2024, 5, 1)) == (date(2024, 5, 1), False)
    assert excel_value(Decimal("1.50")) == (Decimal("1.50"), False)
    assert excel_value(None) == (None, False)
    assert excel_value(True) == (True, False)
    text, cut = excel_value(LONG)
    assert cut and len(text) == EXCEL_CELL_LIMIT and text.endswith(TRUNCATION_MARKER)


def test_json_and_csv_values():
    assert json_value(AWARE) == "2024-05-01T12:30:00+02:00"
    assert json_value(AWARE.astimezone(UTC)) == "2024-05-01T10:30:00+00:00"
    assert json_value(Decimal("125.50")) == "125.50"
    assert json_value(None) is None
    assert text_value(AWARE) == "2024-05-01T12:30:00+02:00"
    assert text_value(None) == ""
    assert text_value(False) == "false"
    assert text_value("=1") == "'=1"


def test_sheet_names_are_valid_and_unique():
    taken: set[str] = set()
    assert sheet_name("Invoices/2024: [old]?", taken) == "Invoices_2024_ _old__"
    long = "x" * 40
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert len(first) == 31 and len(second) == 31 and first != second


def _document() -> ExportDocument:
    columns = [
        ExportColumn("when", "When", "activity", "datetime", False),
        ExportColumn("note", "Note", "notes", "string", False),
        ExportColumn("amount", "Amount", "financial", "decimal", False),
        ExportColumn("day", "Day", "activity", "date", False),
    ]
    rows = [
        [AWARE, LONG, Decimal("12.34"), date(2024, 2, 29)],
        [None, None, None, None],
        [datetime(2024, 1, 1, 8, 0), "=cmd|' /C calc'!A0", Decimal("-1"), None],
    ]
    table = ExportTable("Thing", "Things", columns, [[1], [2], [3]], rows)
    cats = [
        ExportCategory("activity", "Activities", False, ["Sport"], ["Contract"], models=["Things"]),
        ExportCategory("notes", "Notes", False, models=["Things"]),
        ExportCategory("financial", "Financial", False, models=["Things"]),
    ]
    return ExportDocument("Club", 7, AWARE.astimezone(UTC), "board", False, cats, [table])


def test_xlsx_writes_utc_datetimes_nulls_and_truncates_with_a_note(app):
    buf = io.BytesIO()
    with app.test_request_context():
        write(_document(), "xlsx", buf)
    sheets = read_xlsx(buf.getvalue())
    cover, things = list(sheets.values())
    assert things[0] == ["When", "Note", "Amount", "Day"]
    assert things[1][0] == datetime(2024, 5, 1, 10, 30)
    assert len(things[1][1]) == EXCEL_CELL_LIMIT and things[1][1].endswith(TRUNCATION_MARKER)
    assert things[1][2] == pytest.approx(12.34) and things[1][3] == datetime(2024, 2, 29)
    assert things[2] == [None, None, None, None]
    assert things[3][1] == "'=cmd|' /C calc'!A0"
    cover_text = json.dumps(cover, default=str)
    assert "32767" in cover_text and "[...]" in cover_text
    assert "Activities" in cover_text and "Sport" in cover_text and "Contract" in cover_text


def test_xlsx_headers_are_frozen_and_columns_sized(app):
    import openpyxl

    buf = io.BytesIO()
    with app.test_request_context():
        write(_document(), "xlsx", buf)
    book = openpyxl.load_workbook(buf)
    sheet = book.worksheets[1]
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width >= 20  # a datetime column
    assert sheet.cell(row=2, column=1).number_format.startswith("yyyy-mm-dd")


def test_json_keeps_full_text_and_offsets(app):
    buf = io.BytesIO()
    with app.test_request_context():
        write(_document(), "json", buf)
    doc = json.loads(buf.getvalue())
    values = {}
    for cat in doc["categories"]:
        for model in cat["models"]:
            for row in model["rows"]:
                values.setdefault(tuple(row["key"]), {}).update(row["values"])
    assert values[(1,)] == {
        "when": "2024-05-01T12:30:00+02:00",
        "note": LONG,
        "amount": "12.34",
        "day": "2024-02-29",
    }
    assert values[(2,)] == dict.fromkeys(("when", "note", "amount", "day"))
    assert doc["export"]["exported_at"].endswith("+00:00")


def test_csv_zip_keeps_full_text_and_neutralises(app):
    buf = io.BytesIO()
    with app.test_request_context():
        write(_document(), "csv", buf)
    files = read_zip(buf.getvalue())
    assert files["Thing"][1] == ["2024-05-01T12:30:00+02:00", LONG, "12.34", "2024-02-29"]
    assert files["Thing"][2] == ["", "", "", ""]
    assert files["Thing"][3][1] == "'=cmd|' /C calc'!A0"
    assert "rows" not in files["metadata"]["categories"][0]["models"][0]


def _check(schema: dict, value, root: dict, where: str = "$") -> None:
    """A small JSON-schema checker for the keywords schema-v1.json uses."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "null": type(None),
        "integer": int,
        "number": (int, float),
    }
    if "type" in schema:
        allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(isinstance(value, types[t]) for t in allowed), f"{where}: {value!r}"
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], where
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        for key, item in value.items():
            if key in schema.get("properties", {}):
                _check(schema["properties"][key], item, root, f"{where}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                _check(schema["additionalProperties"], item, root, f"{where}.{key}")
            else:
                assert schema.get("additionalProperties", True) is not False, f"{where}.{key}"
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(schema["items"], item, root, f"{where}[{i}]")


def test_json_export_follows_the_shipped_schema(app):
    schema = json.loads(Path(schema_path()).read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_ID
    assert SCHEMA_VERSION.startswith("1.")
    with app.test_request_context():
        document = json.loads(json.dumps(json_document(_document())))
    _check(schema, document, schema)


def test_schema_is_shipped_as_package_data():
    setup = (REPO / "setup.cfg").read_text(encoding="utf-8")
    assert "export/*.json" in setup
    assert Path(schema_path()).name == "schema-v1.json"
