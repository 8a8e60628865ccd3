"""Each export format holds exactly the member's database rows, nothing of anyone else."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import update

from example_app.models import Member, SignUp, User, db
from flask_avg.extension import get_state
from flask_avg.features.export.service import build
from flask_avg.features.export.writers import write
from tests.support.export import (
    csv_values,
    excel_equal,
    expected,
    json_key,
    labels,
    ooxml_text,
    read_json_rows,
    read_xlsx,
    read_zip,
)
from tests.support.factories import Built, full_member, message

FORMATS = ("xlsx", "json", "csv")


def _export(built: Built, fmt: str, *, special: bool) -> bytes:
    state = get_state()
    member = db.session.get(Member, built.member.id)
    doc = build(state, member, special=special, actor="tester")
    buf = io.BytesIO()
    write(doc, fmt, buf)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _request(app):
    """Labels are translated per request: export as a request in the default language would."""
    with app.test_request_context():
        yield


@pytest.fixture
def club(app):
    """Three members with rows in every model; messages between them."""
    a, b, c = full_member(1), full_member(2), full_member(3)
    message(a, b)
    message(c, a)
    message(b, c)  # a is not involved
    db.session.commit()
    return a, b, c


def _assert_file(state, fmt: str, data: bytes, want) -> None:
    if fmt == "xlsx":
        _assert_xlsx(state, data, want)
    elif fmt == "json":
        _assert_json(data, want)
    else:
        _assert_csv(data, want)


def _assert_xlsx(state, data: bytes, want) -> None:
    sheets = read_xlsx(data)
    names = labels(state)
    assert list(sheets)[0] == "About this export" or list(sheets)[0] == "Over deze export"
    for model, (cols, rows) in want.items():
        sheet = sheets[names[model]]
        assert len(sheet[0]) == len(cols)
        body = sheet[1:]
        assert len(body) == len(rows), model
        for got, (_key, values) in zip(body, rows, strict=True):
            assert all(excel_equal(g, v) for g, v in zip(got, values, strict=True)), (
                model,
                got,
                values,
            )


def _assert_json(data: bytes, want) -> None:
    doc = json.loads(data)
    got = read_json_rows(doc)
    for model, (cols, rows) in want.items():
        expect = {json_key(k): dict(zip(cols, map(_jv, v), strict=True)) for k, v in rows}
        assert got.get(model, {}) == expect, model


def _jv(value):
    from flask_avg.features.export.safety import json_value

    return json_value(value)


def _assert_csv(data: bytes, want) -> None:
    files = read_zip(data)
    assert files["metadata"]["schema_version"] == "1.0"
    for model, (cols, rows) in want.items():
        table = files[model]
        assert len(table[0]) == len(cols)
        assert table[1:] == [csv_values(v) for _k, v in rows], model


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_holds_exactly_the_members_rows(club, fmt):
    a, b, c = club
    state = get_state()
    for built in (a, b):
        want = expected(state, built, special=True)
        assert all(rows for _cols, rows in want.values()), "factory covers every model"
        data = _export(built, fmt, special=True)
        _assert_file(state, fmt, data, want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_other_members_data_never_appears(club, fmt):
    a, b, c = club
    data = _export(a, fmt, special=True)
    text = _all_text(data, fmt)
    assert "Voornaam1" in text and "m1@example.org" in text
    for other in (b, c):
        n = other.member.id
        for marker in (f"Voornaam{n}", f"Achternaam{n}", f"m{n}@example.org", f"medisch {n}"):
            assert marker not in text
    # The message b sent c is not a's.
    assert f"{b.member.id}-1" not in text


def _all_text(data: bytes, fmt: str) -> str:
    if fmt == "xlsx":
        return json.dumps(read_xlsx(data), default=str, ensure_ascii=False)
    if fmt == "csv":
        return json.dumps(read_zip(data), ensure_ascii=False)
    return data.decode("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_secrets_never_and_special_only_when_allowed(club, fmt):
    a = club[0]
    db.session.execute(update(User).where(User.id == a.user.id).values(password_hash="s3cr3t-h4sh"))
    db.session.commit()
    without = _all_text(_export(a, fmt, special=False), fmt)
    with_special = _all_text(_export(a, fmt, special=True), fmt)
    for text in (without, with_special):
        assert "s3cr3t-h4sh" not in text and "password" not in text.lower()
    assert "medisch 1" not in without and "Medische bijzonderheden" not in without
    assert "medical_notes" not in without
    assert "Medische bijzonderheden" in with_special or "medical_notes" in with_special
    assert "medisch 1" in with_special


FORMULAS = {
    "first_name": '=HYPERLINK("http://evil","x")',
    "last_name": "+31612345678+cmd",
    "phone": "-2+3",
    "street": "@SUM(A1:A2)",
    "city": "\tTab",
    "postcode": "\rCR",
}
#: Plain signed numbers are numbers, never formulas: they stay as typed.
NUMBERS = {"phone": "+31612345678", "street": "-12.50"}


def test_formulas_are_neutralised_in_excel_and_csv_but_exact_in_json(club):
    a = club[0]
    db.session.execute(update(Member).where(Member.id == a.member.id).values(**FORMULAS))
    db.session.commit()
    state = get_state()
    names = labels(state)
    member_cols = list(state.registry.get("Member").exported_columns(special=True))

    book = __import__("openpyxl").load_workbook(io.BytesIO(_export(a, "xlsx", special=True)))
    sheet = book[names["Member"]]
    for col, value in FORMULAS.items():
        cell = sheet.cell(row=2, column=member_cols.index(col) + 1)
        assert cell.data_type == "s"
        assert ooxml_text(cell.value) == "'" + value

    member_csv = read_zip(_export(a, "csv", special=True))["Member"]
    for col, value in FORMULAS.items():
        assert member_csv[1][member_cols.index(col)] == "'" + value

    rows = read_json_rows(json.loads(_export(a, "json", special=True)))["Member"]
    values = rows[(a.member.id,)]
    for col, value in FORMULAS.items():
        assert values[col] == value


def test_plain_signed_numbers_stay_readable(club):
    a = club[0]
    db.session.execute(update(Member).where(Member.id == a.member.id).values(**NUMBERS))
    db.session.commit()
    member_cols = list(get_state().registry.get("Member").exported_columns(special=True))
    member_csv = read_zip(_export(a, "csv", special=True))["Member"]
    for col, value in NUMBERS.items():
        assert member_csv[1][member_cols.index(col)] == value


UNICODE = {
    "first_name": "Zoë 😀🏳️‍🌈",
    "last_name": "عبد الله",
    "city": "‏תל אביב‎",
    "street": "Straße 1 — 東京",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_unicode_round_trips(club, fmt):
    a = club[0]
    db.session.execute(update(Member).where(Member.id == a.member.id).values(**UNICODE))
    db.session.execute(update(SignUp).where(SignUp.member_id == a.member.id).values(remarks="🚴‍♀️"))
    db.session.commit()
    state = get_state()
    want = expected(state, a, special=True)
    member_cols, member_rows = want["Member"]
    assert member_rows[0][1][member_cols.index("first_name")] == UNICODE["first_name"]
    _assert_file(state, fmt, _export(a, fmt, special=True), want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_member_with_empty_related_models(app, fmt):
    member = Member(
        member_number="E1",
        first_name="Alleen",
        last_name="Lid",
        email="alleen@example.org",
        start_date=date(2024, 1, 1),
    )
    db.session.add(member)
    db.session.commit()
    state = get_state()
    built = Built(member, None)  # type: ignore[arg-type]
    built.ids = {m.name: set() for m in state.registry}
    built.ids["Member"] = {member.id}
    want = expected(state, built, special=True)
    data = _export(built, fmt, special=True)
    if fmt == "xlsx":
        sheets = read_xlsx(data)
        assert sheets[labels(state)["Invoice"]] == [
            ["Factuurnummer", "Factuurdatum", "Omschrijving", "Bedrag"]
        ]  # the default language is Dutch
    elif fmt == "json":
        doc = json.loads(data)
        counts = {m["name"]: m["row_count"] for c in doc["categories"] for m in c["models"]}
        assert counts["Invoice"] == 0 and counts["Member"] == 1
    else:
        assert len(read_zip(data)["Payment"]) == 1  # the header only
    _assert_file(state, fmt, data, want)


def test_columns_declared_not_exportable_stay_out(club):
    from dataclasses import replace

    a = club[0]
    signup = get_state().registry.get("SignUp")
    signup.columns["kind"] = replace(signup.columns["kind"], export=False)
    db.session.execute(update(SignUp).where(SignUp.member_id == a.member.id).values(remarks="x"))
    db.session.commit()
    rows = read_json_rows(json.loads(_export(a, "json", special=True)))["SignUp"]
    assert all("kind" not in values and values["remarks"] == "x" for values in rows.values())
    signups = read_zip(_export(a, "csv", special=True))["SignUp"]
    assert len(signups[0]) == 2 and "lidmaatschap" not in json.dumps(signups)
