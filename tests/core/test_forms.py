"""The correction form is built from column types; errors read in Dutch and English.

These tests need no database: they build forms for a stand-alone table on one app.
"""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, Date, Enum, Integer, MetaData, Numeric, String, Table, Text
from werkzeug.datastructures import MultiDict
from wtforms.validators import Regexp

from flask_avg import ModelPolicy, personal
from flask_avg.core.forms import correction_form, form_values
from flask_avg.core.registry import DeclaredModel
from tests.support.app import make_app


class Level(enum.Enum):
    BEGINNER = "beginner"
    EXPERT = "expert"


TABLE = Table(
    "people",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False),
    Column("contact", String(100), info=personal("contact", format="email")),
    Column("born", Date),
    Column("level", Enum(Level)),
    Column("size", Enum("S", "M", "L", name="size"), nullable=False),
    Column("shirt", String(3), info=personal("contact", choices=["S", "M", "L"])),
    Column("kids", Integer),
    Column("weight", Numeric(5, 1)),
    Column("news", Boolean),
    Column("bio", Text),
    Column(
        "postcode",
        String(7),
        info=personal("address", validators=[Regexp(r"^\d{4} ?[A-Z]{2}$", message="NL")]),
    ),
)
MODEL = DeclaredModel(name="Person", table=TABLE, cls=None, policy=ModelPolicy(), columns={})
COLUMNS = [c.name for c in TABLE.columns if c.name != "id"]
VALID = {
    "f_name": "Anna",
    "f_contact": "",
    "f_born": "",
    "f_level": "",
    "f_size": "M",
    "f_shirt": "",
    "f_kids": "",
    "f_weight": "",
    "f_bio": "",
    "f_postcode": "",
}


@pytest.fixture(scope="module")
def form_app(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("forms")) / "unused.db"
    return make_app(f"sqlite:///{path}")


def submit(form_app, locale: str = "nl", **changes: str):
    data = {**VALID, **changes}
    with form_app.test_request_context(method="POST", data=MultiDict(data)):
        from flask import session

        session["avg_locale"] = locale
        form = correction_form(MODEL, COLUMNS, meta={"csrf": False})
        ok = form.validate()
        errors = {k.removeprefix("f_"): [str(e) for e in v] for k, v in form.errors.items()}
        return ok, errors, form_values(form) if ok else None


def test_valid_post_gives_typed_values(form_app):
    ok, errors, values = submit(
        form_app,
        f_born="2001-02-03",
        f_level="expert",
        f_kids="2",
        f_weight="71,5",
        f_news="y",
        f_contact=" anna@example.org ",
        f_postcode="3511 AB",
    )
    assert ok, errors
    assert values["born"] == date(2001, 2, 3)
    assert values["level"] == "expert"
    assert values["kids"] == 2
    assert values["weight"] == Decimal("71.5")
    assert values["news"] is True
    assert values["contact"] == "anna@example.org"
    assert values["size"] == "M"
    # empty optional fields store NULL
    assert values["bio"] is None and values["shirt"] is None


@pytest.mark.parametrize(
    ("field", "value", "dutch", "english"),
    [
        ("name", "", "Dit veld is verplicht.", "This field is required."),
        ("name", "x" * 21, "Maximaal 20 tekens.", "At most 20 characters, please."),
        ("contact", "anna@", "Vul een geldig e-mailadres in", "Enter a valid e-mail address"),
        ("born", "31-02-2001", "Vul een geldige datum in", "Enter a valid date"),
        ("level", "god", "Kies een van de mogelijkheden.", "Choose one of the options."),
        ("size", "", "Dit veld is verplicht.", "This field is required."),
        ("size", "XL", "Kies een van de mogelijkheden.", "Choose one of the options."),
        ("shirt", "XXL", "Kies een van de mogelijkheden.", "Choose one of the options."),
        ("kids", "twee", "Vul een heel getal in.", "Enter a whole number."),
        ("weight", "zwaar", "Vul een getal in.", "Enter a number."),
        ("postcode", "3511", "NL", "NL"),
    ],
)
def test_invalid_values_get_clear_messages(form_app, field, value, dutch, english):
    ok, errors, _ = submit(form_app, **{f"f_{field}": value})
    assert not ok
    assert list(errors) == [field]
    assert errors[field][0].startswith(dutch)
    ok, errors, _ = submit(form_app, "en", **{f"f_{field}": value})
    assert errors[field][0].startswith(english)


def test_field_kinds_follow_the_column_types(form_app):
    with form_app.test_request_context():
        form = correction_form(MODEL, COLUMNS, meta={"csrf": False})
        kinds = {name: form[f"f_{name}"].type for name in COLUMNS}
        assert form["f_name"].flags.required
        assert not form["f_bio"].flags.required
    assert kinds == {
        "name": "StringField",
        "contact": "EmailField",
        "born": "_Date",
        "level": "_Select",
        "size": "_Select",
        "shirt": "_Select",
        "kids": "_Integer",
        "weight": "_Decimal",
        "news": "BooleanField",
        "bio": "TextAreaField",
        "postcode": "StringField",
    }
