"""The register of processing activities and the processor annex list every declared purpose
and data category of the example club; board fields are stored and audited."""

from __future__ import annotations

import io

import openpyxl
from sqlalchemy import select

from example_app.demo import seed
from flask_avg.core.i18n import localise
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.accountability import annex, register
from tests.support.app import csrf_token, login


def _declared() -> tuple[set[str], set[str]]:
    state = get_state()
    purposes = {
        str(localise(spec.purpose)) for model in state.registry for spec in model.columns.values()
    }
    labels = {str(state.catalogue.categories[c].label) for c in state.registry.categories}
    return purposes, labels


def _workbook_text(data: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return "\n".join(
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    )


def test_register_lists_every_purpose_category_and_retention(app):
    purposes, labels = _declared()
    reg = register.build(get_state())
    assert {a.purpose for a in reg.activities} == purposes
    assert {str(c.label) for c in reg.categories} == labels
    fee = next(a for a in reg.activities if a.purpose == "Innen van de contributie")
    assert {r.category for r in fee.retention} == {"invoices", "members"}
    invoices = next(r for r in fee.retention if r.category == "invoices")
    assert invoices.days >= 7 * 365 and invoices.floor_reason is not None
    health = next(a for a in reg.activities if a.purpose == "Eerste hulp tijdens trainingen")
    assert health.special
    assert "Accountant" in fee.recipients
    assert [p.key for p in reg.consent_purposes] == ["newsletter"]


def test_excel_and_annex_contain_every_purpose_and_category(app):
    purposes, labels = _declared()
    reg = register.build(get_state())
    sheet = _workbook_text(register.to_excel(reg))
    text = annex.to_markdown(reg)
    for word in purposes | labels:
        assert word in sheet, word
        assert word in text, word
    assert "Nieuwsbrief" in text


def test_spreadsheet_cells_never_start_a_formula(app):
    state = get_state()
    state.settings.set("register.transfers", '=HYPERLINK("http://evil")')
    book = openpyxl.load_workbook(io.BytesIO(register.to_excel(register.build(state))))
    values = [v for s in book.worksheets for r in s.iter_rows(values_only=True) for v in r if v]
    assert all(not str(v).startswith("=") for v in values)
    assert '\'=HYPERLINK("http://evil")' in values


def test_board_fills_in_register_fields_and_downloads(app, client):
    seed(n_members=4)
    login(client, "bestuur@example.org")
    page = client.get("/avg/register").get_data(as_text=True)
    assert "Ledenadministratie" in page and "Eerste hulp tijdens trainingen" in page
    token = csrf_token(client, "/avg/register")
    resp = client.post(
        "/avg/register",
        data={
            "csrf_token": token,
            "controller": "Sportvereniging De Wielewaal",
            "contact": "privacy@wielewaal.example.org",
            "recipients": "Bondsbureau KNHB",
            "transfers": "Geen",
            "security": "Versleutelde back-ups",
            "people": "Leden en oud-leden",
            "people_0": "Leden",
        },
    )
    assert resp.status_code == 302
    reg = register.build(get_state())
    assert reg.fields["security"] == "Versleutelde back-ups"
    assert all("Bondsbureau KNHB" in a.recipients for a in reg.activities)
    assert reg.activities[0].people == "Leden" and reg.activities[1].people == "Leden en oud-leden"
    entry = (
        get_state()
        .db.session.scalars(select(AuditEntry).where(AuditEntry.action == "register.save"))
        .one()
    )
    assert "security" in entry.field_list
    xlsx = client.get("/avg/register.xlsx")
    assert xlsx.status_code == 200 and "Versleutelde back-ups" in _workbook_text(xlsx.data)
    annex_page = client.get("/avg/register/annex").get_data(as_text=True)
    assert "Leden en oud-leden" in annex_page
    md = client.get("/avg/register/annex.md")
    assert md.status_code == 200 and "Eerste hulp tijdens trainingen" in md.get_data(as_text=True)


def test_members_cannot_open_the_register(app, client):
    seed(n_members=3)
    login(client, "lid@example.org")
    for url in (
        "/avg/register",
        "/avg/register.xlsx",
        "/avg/register/annex",
        "/avg/register/annex.md",
    ):
        assert client.get(url).status_code == 403


def test_cli_writes_the_register(app, tmp_path):
    out = tmp_path / "register.xlsx"
    result = app.test_cli_runner().invoke(args=["avg", "register", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Ledenadministratie" in _workbook_text(out.read_bytes())
    result = app.test_cli_runner().invoke(args=["avg", "annex"])
    assert result.exit_code == 0 and "Ledenadministratie" in result.output
