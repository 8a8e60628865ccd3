"""The export routes: ACL, CSRF, audit, signal, the member list, the audit log, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest
from sqlalchemy import select, update

from example_app.models import Member, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.presenters import member_list_query
from flask_avg.core.signals import data_exported
from flask_avg.extension import get_state
from flask_avg.features.acl.models import Group, Rule
from flask_avg.features.export.lists import member_columns
from tests.support import ROOT as REPO
from tests.support.app import csrf_token, login
from tests.support.export import PASSWORD, give_login, read_json_rows, read_xlsx, read_zip
from tests.support.factories import full_member, message

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def club(app):
    board, member, other = full_member(1), full_member(2), full_member(3)
    message(member, other)
    give_login(board, "board")
    give_login(member)
    db.session.commit()
    return board, member, other


def _login(client, built) -> None:
    login(client, built.user.email, PASSWORD)


def _entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_board_exports_a_member_in_every_format_audited_and_signalled(app, client, club):
    board, member, _other = club
    _login(client, board)
    url = f"/avg/members/{member.member.id}/export"
    page = client.get(f"/avg/members/{member.member.id}")
    assert url in page.get_data(as_text=True)  # the button on the member page
    token = csrf_token(client, url)
    sent = []

    def receiver(sender, **kw):
        sent.append(kw)

    files = {}
    with data_exported.connected_to(receiver, app):
        for fmt, kind in (("xlsx", XLSX_TYPE), ("json", "application/json"), ("csv", "zip")):
            response = client.post(url, data={"format": fmt, "csrf_token": token})
            assert response.status_code == 200
            assert kind in response.mimetype
            assert response.headers["Content-Disposition"].startswith("attachment;")
            assert "no-store" in response.headers["Cache-Control"]
            files[fmt] = response.data
    sheets = read_xlsx(files["xlsx"])
    assert any(row and "Voornaam2" in row for rows in sheets.values() for row in rows)
    assert "Voornaam2" in read_zip(files["csv"])["Member"][1]
    assert json.loads(files["json"])["export"]["subject_id"] == member.member.id
    assert json.loads(files["json"])["export"]["exported_by"] == board.user.email
    entries = _entries("export.subject")
    assert len(entries) == 3
    assert {e.subject for e in entries} == {str(member.member.id)}
    assert {e.actor for e in entries} == {str(board.user.id)}
    assert {e.detail["format"] for e in entries} == {"xlsx", "json", "csv"}
    assert "Member.medical_notes" not in entries[0].field_list  # the board lacks special.view
    assert [s["format"] for s in sent] == ["xlsx", "json", "csv"]
    assert sent[0]["subject_id"] == member.member.id and sent[0]["actor"] == str(board.user.id)


def test_board_sees_special_categories_only_with_the_right(app, client, club):
    board, member, _other = club
    _login(client, board)
    url = f"/avg/members/{member.member.id}/export"
    token = csrf_token(client, url)
    data = client.post(url, data={"format": "json", "csrf_token": token}).data
    assert b"medisch 2" not in data
    grp = db.session.scalars(select(Group).where(Group.key == "board")).one()
    db.session.add(Rule(group_id=grp.id, action="avg.special.view", allow=True))
    db.session.commit()
    data = client.post(url, data={"format": "json", "csrf_token": token}).data
    assert "medisch 2" in data.decode()


def test_member_cannot_export_others_and_post_needs_csrf(app, client, club):
    board, member, other = club
    _login(client, member)
    response = client.post(f"/avg/members/{other.member.id}/export", data={"format": "json"})
    assert response.status_code == 403
    assert client.post("/avg/members/export", data={"format": "csv"}).status_code == 403
    assert client.post("/avg/audit/export", data={"separator": ";"}).status_code == 403
    # Own data without a CSRF token: refused, no file.
    response = client.post("/avg/me/export", data={"format": "json"})
    assert response.status_code == 400
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    assert _entries("export.subject") == [] and _entries("self.export") == []


def test_anonymous_visitor_is_sent_to_login(client, club):
    response = client.post("/avg/me/export", data={"format": "json"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_member_downloads_own_data_with_special_categories(app, client, club):
    _board, member, other = club
    _login(client, member)
    page = client.get("/avg/me").get_data(as_text=True)
    assert "/avg/me/export" in page  # the buttons on the member's own page
    token = csrf_token(client, "/avg/me/export")
    response = client.post("/avg/me/export", data={"format": "json", "csrf_token": token})
    assert response.status_code == 200
    doc = json.loads(response.data)
    rows = read_json_rows(doc)
    assert rows["Member"][(member.member.id,)]["medical_notes"] == "medisch 2"
    assert doc["export"]["special_categories_included"] is True
    assert "Voornaam3" not in response.get_data(as_text=True)
    files = read_zip(
        client.post("/avg/me/export", data={"format": "csv", "csrf_token": token}).data
    )
    assert "Voornaam2" in files["Member"][1]
    entry = _entries("self.export")[0]
    assert entry.subject == str(member.member.id) and entry.actor == str(member.user.id)


def test_unknown_member_is_404(client, club):
    _login(client, club[0])
    assert client.get("/avg/members/99999/export").status_code == 404
    assert client.get("/avg/members/nope/export").status_code == 404


def test_member_list_export_matches_the_filtered_page(app, client, club):
    board, _member, _other = club
    _login(client, board)
    page = client.get("/avg/members?q=Voornaam2").get_data(as_text=True)
    assert "/avg/members/export" in page
    token = csrf_token(client, "/avg/members/export")
    response = client.post(
        "/avg/members/export", data={"format": "xlsx", "q": "Voornaam2", "csrf_token": token}
    )
    assert response.status_code == 200 and response.mimetype == XLSX_TYPE
    rows = list(read_xlsx(response.data).values())[0]
    header, body = rows[0], rows[1:]
    assert "Medische bijzonderheden" not in header  # only what the board may see
    assert "Voornaam" in header
    assert [r[0] for r in body] == [_member.member.id]
    assert body[0][header.index("Voornaam")] == "Voornaam2"

    response = client.post("/avg/members/export", data={"format": "csv", "csrf_token": token})
    # a Dutch page: ";"-separated, every field quoted
    text = response.data.decode("utf-8-sig")
    assert text.startswith('"ID";"')
    table = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(table) == 1 + 3
    entries = _entries("export.members")
    assert [e.detail["rows"] for e in entries] == [1, 3]
    assert entries[0].detail["filtered"] is True
    assert "Voornaam2" not in (entries[0].detail_json or "")  # the search text stays out


def test_member_list_query_uses_the_same_filter_as_the_page(app, club):
    state = get_state()
    columns = member_columns(state, special=False)
    ids = db.session.scalars(member_list_query(state, columns, "achternaam3")).all()
    assert ids == [club[2].member.id]


def test_audit_log_csv_with_either_separator(app, client, club):
    board, member, _other = club
    _login(client, board)
    client.get(f"/avg/members/{member.member.id}")  # an audited view
    token = csrf_token(client, "/avg/audit/export")
    for sep in (";", ","):
        response = client.post("/avg/audit/export", data={"separator": sep, "csrf_token": token})
        assert response.status_code == 200
        text = response.data.decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
        assert table[0][:3] == ["at", "actor", "action"]
        assert any(r[2] == "members.view" and r[4] == str(member.member.id) for r in table[1:])
    assert (
        client.post("/avg/audit/export", data={"separator": "|", "csrf_token": token}).status_code
        == 400
    )
    assert len(_entries("export.audit")) == 2


def test_no_temporary_file_is_left_behind(app, client, club, monkeypatch, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _login(client, club[0])
    token = csrf_token(client, "/avg/members/export")
    for fmt in ("xlsx", "csv"):
        response = client.post("/avg/members/export", data={"format": fmt, "csrf_token": token})
        assert response.status_code == 200 and response.data
        response.close()
    response = client.post("/avg/audit/export", data={"separator": ";", "csrf_token": token})
    assert response.data
    assert list(scratch.iterdir()) == []


def test_cli_exports_a_member_to_a_private_file(app, club, tmp_path):
    member = club[1]
    runner = app.test_cli_runner()
    for fmt in ("xlsx", "json", "csv"):
        out = tmp_path / f"export.{fmt}"
        result = runner.invoke(
            args=["avg", "export", str(member.member.id), "--format", fmt, "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = json.loads((tmp_path / "export.json").read_text(encoding="utf-8"))
    assert read_json_rows(doc)["Member"][(member.member.id,)]["first_name"] == "Voornaam2"
    assert doc["export"]["exported_by"].startswith("cli:")
    assert any(
        r and "Voornaam2" in r
        for r in list(read_xlsx((tmp_path / "export.xlsx").read_bytes()).values())[1]
    )
    entries = _entries("export.subject")
    assert len(entries) == 3 and entries[0].actor.startswith("cli:")
    result = runner.invoke(args=["avg", "export", "424242", "-o", str(tmp_path / "x.json")])
    assert result.exit_code != 0 and "no member" in result.output
    assert db.session.get(Member, member.member.id) is not None


LAZY = """
import sys
from example_app import create_app
from example_app.models import db
from flask_avg.core.models import AvgBase
app = create_app({"TESTING": True, "SECRET_KEY": "x",
                  "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[1]})
with app.app_context():
    db.create_all()
    AvgBase.metadata.create_all(db.engine)
client = app.test_client()
assert client.get("/").status_code == 200
assert client.get("/login").status_code == 200
assert client.get("/avg/").status_code in (302, 401)
heavy = sorted(m for m in ("pandas", "xlsxwriter", "openpyxl", "numpy") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_importing_and_serving_pages_does_not_import_pandas(tmp_path):
    root = REPO
    result = subprocess.run(
        [sys.executable, "-c", LAZY, str(tmp_path / "lazy.db")],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_board_without_the_export_right_sees_no_buttons(app, client, club):
    board, member, _other = club
    grp = db.session.scalars(select(Group).where(Group.key == "board")).one()
    rule = db.session.scalars(
        select(Rule).where(Rule.group_id == grp.id, Rule.action == "avg.members.export")
    ).one()
    db.session.execute(update(Rule).where(Rule.id == rule.id).values(allow=False))
    db.session.commit()
    _login(client, board)
    page = client.get(f"/avg/members/{member.member.id}").get_data(as_text=True)
    assert f"/avg/members/{member.member.id}/export" not in page
    assert "/avg/members/export" not in client.get("/avg/members").get_data(as_text=True)
    assert client.get(f"/avg/members/{member.member.id}/export").status_code == 403
    db.session.rollback()  # the denial was written in a transaction of its own
    denied = db.session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
    assert any(e.action == "avg.members.export" for e in denied)
