"""Helpers for the export tests: the expected rows straight from the database, file readers."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import openpyxl
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from example_app.models import db
from flask_avg.features.acl.models import Group, GroupMember
from flask_avg.features.export.document import translated
from flask_avg.features.export.safety import json_value, sheet_name, text_value
from tests.support.factories import Built

PASSWORD = "pw-export-test"


def expected(state: Any, built: Built, *, special: bool) -> dict[str, tuple[list[str], list]]:
    """model name -> (exported column names, [(key, [values])]) read directly from the tables."""
    out: dict[str, tuple[list[str], list]] = {}
    for model in state.registry:
        cols = list(model.exported_columns(special=special))
        pk = [c.name for c in model.primary_key]

        def key(row: Any, pk: list[str] = pk) -> Any:
            return row[pk[0]] if len(pk) == 1 else tuple(row[c] for c in pk)

        rows = db.session.execute(select(model.table)).mappings().all()
        mine = sorted((r for r in rows if key(r) in built.ids[model.name]), key=key)
        out[model.name] = (cols, [(key(r), [r[c] for c in cols]) for r in mine])
    return out


def labels(state: Any) -> dict[str, str]:
    """model name -> its translated label (the sheet name), in a request's language."""
    return {m.name: sheet_name(translated(m.label), set()) for m in state.registry}


def excel_equal(cell: Any, value: Any) -> bool:
    if value is None:
        return cell is None
    if isinstance(value, datetime):
        return cell == value.replace(tzinfo=None)
    if isinstance(value, date):
        return cell == datetime.combine(value, time())
    if isinstance(value, Decimal):
        return Decimal(str(cell)) == value
    return bool(cell == value)


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def ooxml_text(value: Any) -> Any:
    """Undo OOXML's ``_xHHHH_`` escaping of control characters (Excel does this on reading)."""
    if isinstance(value, str):
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def read_xlsx(data: bytes) -> dict[str, list[list[Any]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {
        ws.title: [[ooxml_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
        for ws in book.worksheets
    }


def read_json_rows(doc: dict[str, Any]) -> dict[str, dict[tuple, dict[str, Any]]]:
    """model name -> key -> {column: value}, merged over the categories."""
    models: dict[str, dict[tuple, dict[str, Any]]] = {}
    for cat in doc["categories"]:
        for model in cat["models"]:
            entry = models.setdefault(model["name"], {})
            for row in model["rows"]:
                entry.setdefault(tuple(row["key"]), {}).update(row["values"])
    return models


def csv_separator(text: str) -> str:
    """The separator of a flask-avg CSV (every field quoted): ``;`` or ``,``."""
    return ";" if text.split("\r\n", 1)[0].startswith('"') and '";"' in text[:2000] else ","


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=csv_separator(text)))


def read_zip(data: bytes) -> dict[str, Any]:
    """'metadata' -> dict, model name -> list of CSV rows (header first)."""
    out: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            text = zf.read(name).decode("utf-8-sig")
            if name == "metadata.json":
                out["metadata"] = json.loads(text)
            else:
                model = name.split("_", 1)[1].removesuffix(".csv")
                out[model] = read_csv(text)
    return out


def json_key(key: Any) -> tuple:
    return tuple(json_value(k) for k in (key if isinstance(key, tuple) else (key,)))


def csv_values(values: list[Any]) -> list[str]:
    return [text_value(v) for v in values]


def give_login(built: Built, group: str | None = None) -> str:
    """Make ``built``'s user able to log in (and join ``group``); returns the e-mail."""
    built.user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    if group is not None:
        grp = db.session.scalars(select(Group).where(Group.key == group)).one()
        db.session.add(GroupMember(user_id=str(built.user.id), group_id=grp.id))
    db.session.flush()
    return built.user.email
