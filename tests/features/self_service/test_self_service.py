"""Self-service: the member's own data page, correcting data, and the board's field rights."""

from __future__ import annotations

import re
from html import unescape

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from example_app.models import Member, User, db
from flask_avg.core.jinja import format_value
from flask_avg.core.signals import personal_data_changed
from flask_avg.extension import get_state
from flask_avg.features.requests.service import ProcessingLimit
from flask_avg.features.self_service import service
from flask_avg.features.self_service.field_policy import editable_columns, setting_key
from tests.support.app import csrf_token, login
from tests.support.factories import message
from tests.support.self_service import (
    audit,
    declared_purpose,
    details,
    dutch,
    edit_data,
    logged_in,
    make_board,
    member_with_login,
)

CELL = re.compile(r'<(?:td|dd) data-field="([^"]+)">(.*?)</(?:td|dd)>', re.S)


def _cells(html: str) -> list[tuple[str, str]]:
    return [(name, unescape(value)) for name, value in CELL.findall(html)]


# -- My data ----------------------------------------------------------------------


def test_page_shows_every_declared_field_of_every_row_and_nothing_of_another_member(app):
    a = member_with_login(1)
    b = member_with_login(2)
    message(a, b)
    message(b, b)  # b writes to themselves: never on a's page
    db.session.commit()
    state = get_state()
    client = logged_in(app.test_client(), a)
    html = client.get("/avg/me").get_data(as_text=True)
    cells = _cells(html)

    with app.test_request_context():
        expected: list[tuple[str, str]] = []
        for model, rows in state.resolver.rows_for(db.session, a.member.id).items():
            assert rows, f"factory gave {model.name} no rows"
            for row in rows:
                for name, spec in model.columns.items():
                    if spec.secret:
                        continue
                    expected.append((name, format_value(model.value(row, name))))
        others: set[str] = set()
        mine = {v for _n, v in expected}
        for model, rows in state.resolver.rows_for(db.session, b.member.id).items():
            for row in rows:
                for name, spec in model.columns.items():
                    value = format_value(model.value(row, name))
                    if value not in mine and len(value) > 3:
                        others.add(value)
    for pair in expected:
        assert pair in cells, f"{pair} missing from the page"
    assert len(cells) == len(expected)
    for value in others:
        assert value not in html, f"another member's value {value!r} is on the page"
    assert a.user.password_hash not in html
    # grouped by category, with purposes and bases
    assert "Wat we bewaren en waarom" in html
    assert dutch(declared_purpose("Member")) in html
    assert html.count('class="avg-model"') == len(state.registry.models)


def test_page_offers_edit_and_request_sections(app):
    a = member_with_login(1)
    html = logged_in(app.test_client(), a).get("/avg/me").get_data(as_text=True)
    assert 'href="/avg/me/edit"' in html
    assert 'href="/avg/me/requests"' in html
    assert "Mijn privacyverzoeken" in html


def test_anonymous_visitor_is_sent_to_login(app):
    response = app.test_client().get("/avg/me/edit")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# -- Correct my data ------------------------------------------------------------------


def test_form_has_only_editable_fields_with_types_from_the_columns(app):
    a = member_with_login(1)
    html = logged_in(app.test_client(), a).get("/avg/me/edit").get_data(as_text=True)
    for name in ("email", "phone", "street", "postcode", "city"):
        assert f'name="f_{name}"' in html
    for name in ("first_name", "last_name", "iban", "end_date", "start_date", "medical_notes"):
        assert f'name="f_{name}"' not in html
    assert 'type="email"' in html
    assert re.search(r'name="f_phone"[^>]*maxlength="30"|maxlength="30"[^>]*name="f_phone"', html)
    assert re.search(r'id="f_email"[^>]*required|required[^>]*id="f_email"', html)
    # locked fields are named, with the way to ask for a correction
    assert "Voornaam" in html or "First name" in html
    assert "/avg/me/requests#avg-new-correction" in html


def test_member_corrects_phone_audited_by_field_name_and_signalled(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    seen: list[dict] = []

    def receiver(sender, **kw):  # runs inside the request, where the subject is loaded
        seen.append({**kw, "subject_id": kw["subject"].id})

    with personal_data_changed.connected_to(receiver, app):
        response = client.post("/avg/me/edit", data=edit_data(client, a, f_phone=" 06-99887766 "))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, a.member.id).phone == "06-99887766"
    entries = audit("self.edit")
    assert [e.fields for e in entries] == ["phone"]
    assert all("06-99887766" not in (e.detail_json or "") for e in audit())
    assert len(seen) == 1
    assert seen[0]["fields"] == ["phone"] and seen[0]["model"] == "Member"
    assert seen[0]["subject_id"] == a.member.id
    assert seen[0]["actor"] == str(a.user.id)


def test_clearing_an_optional_field_stores_null(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    client.post("/avg/me/edit", data=edit_data(client, a, f_phone=""))
    db.session.expire_all()
    assert db.session.get(Member, a.member.id).phone is None


def test_nothing_changed_writes_no_audit_entry(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    response = client.post("/avg/me/edit", data=edit_data(client, a))
    assert response.status_code == 302
    assert audit("self.edit") == []


@pytest.mark.parametrize(
    ("field", "value", "dutch", "english"),
    [
        ("f_email", "geen-adres", "Vul een geldig e-mailadres in", "Enter a valid e-mail address"),
        ("f_email", "", "Dit veld is verplicht.", "This field is required."),
        ("f_phone", "0" * 31, "Maximaal 30 tekens.", "At most 30 characters, please."),
        ("f_postcode", "12345678901", "Maximaal 10 tekens.", "At most 10 characters, please."),
    ],
)
def test_validation_errors_in_dutch_and_english_change_nothing(app, field, value, dutch, english):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    response = client.post("/avg/me/edit", data=edit_data(client, a, **{field: value}))
    assert response.status_code == 400
    assert dutch in response.get_data(as_text=True)
    client.get("/avg/lang/en")
    response = client.post("/avg/me/edit", data=edit_data(client, a, **{field: value}))
    assert english in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, a.member.id).email == "m1@example.org"
    assert audit("self.edit") == []


def test_email_already_used_by_another_member_is_refused(app):
    a = member_with_login(1)
    member_with_login(2)
    client = logged_in(app.test_client(), a)
    response = client.post("/avg/me/edit", data=edit_data(client, a, f_email="m2@example.org"))
    assert response.status_code == 400
    assert "Deze waarde is al in gebruik." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, a.member.id).email == "m1@example.org"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"f_first_name": "Hacker"}, "locked_field"),
        ({"first_name": "Hacker"}, "locked_field"),
        ({"f_end_date": "2001-01-01"}, "anchor"),
        ({"f_iban": "NL00HACK0000000000"}, "locked_field"),
        ({"subject": "OTHER"}, "other_subject"),
        ({"id": "OTHER"}, "locked_field"),
    ],
)
def test_forged_posts_change_nothing_and_are_audited(app, extra, reason):
    a = member_with_login(1)
    b = member_with_login(2)
    client = logged_in(app.test_client(), a)
    extra = {k: (str(b.member.id) if v == "OTHER" else v) for k, v in extra.items()}
    data = edit_data(client, a, f_phone="06-11112222", **extra)
    response = client.post("/avg/me/edit", data=data)
    assert response.status_code == 403
    db.session.expire_all()
    for built in (a, b):
        row = db.session.get(Member, built.member.id)
        assert row.phone != "06-11112222"
        assert row.first_name.startswith("Voornaam")
        assert row.end_date is None
        assert row.iban == "NL91ABNA0417164300"
    denied = audit("self.edit", outcome="denied")
    assert len(denied) == 1
    assert denied[0].subject == str(a.member.id)
    assert details(denied)[0]["reason"] == reason
    assert audit("self.edit", outcome="ok") == []


def test_post_without_csrf_token_changes_nothing(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    data = edit_data(client, a, f_phone="06-11112222")
    del data["csrf_token"]
    response = client.post("/avg/me/edit", data=data)
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Member, a.member.id).phone == a.member.phone
    assert details(audit("self.edit", outcome="denied")) == [{"reason": "csrf"}]


def test_restricted_member_cannot_edit(app):
    a = member_with_login(1)
    db.session.add(ProcessingLimit(subject=str(a.member.id), kind="restriction"))
    db.session.commit()
    client = logged_in(app.test_client(), a)
    page = client.get("/avg/me/edit").get_data(as_text=True)
    assert "verwerking van je gegevens beperkt" in page
    assert 'name="f_phone"' not in page
    assert 'href="/avg/me/edit"' not in client.get("/avg/me").get_data(as_text=True)
    token = csrf_token(client, "/avg/me/requests")
    response = client.post(
        "/avg/me/edit",
        data={"csrf_token": token, "subject": str(a.member.id), "f_phone": "06-11112222"},
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Member, a.member.id).phone == a.member.phone
    assert details(audit("self.edit", outcome="denied"))[0]["reason"] == "restricted"


def test_login_without_member_record_has_no_self_service(app):
    user = User(
        email="loos@example.org",
        password_hash=generate_password_hash("pw", method="pbkdf2:sha256:1000"),
        active=True,
    )
    db.session.add(user)
    db.session.commit()
    client = app.test_client()
    login(client, "loos@example.org", "pw")
    for url in ("/avg/me", "/avg/me/edit", "/avg/me/requests"):
        assert client.get(url).status_code == 403


# -- The board's field rights -------------------------------------------------------------


def test_board_locks_and_opens_fields(app):
    a = member_with_login(1)
    boss = member_with_login(2)
    make_board(boss)
    state = get_state()
    board = logged_in(app.test_client(), boss)
    page = board.get("/avg/fields").get_data(as_text=True)
    assert 'name="editable_phone" checked' in page
    assert "end_date" not in page  # the retention anchor is never offered
    token = csrf_token(board, "/avg/fields")
    # lock the phone, open the first name, keep the rest
    form = {"csrf_token": token, "editable_first_name": "on"}
    form |= {f"editable_{n}": "on" for n in ("email", "street", "postcode", "city")}
    assert board.post("/avg/fields", data=form).status_code == 302
    assert state.settings.get(setting_key("Member", "phone")) is False
    assert state.settings.get(setting_key("Member", "first_name")) is True
    entry = audit("fields.rights")[-1]
    assert entry.field_list == ["first_name", "phone"]

    member = logged_in(app.test_client(), a)
    html = member.get("/avg/me/edit").get_data(as_text=True)
    assert 'name="f_first_name"' in html and 'name="f_phone"' not in html
    # a post for the now-locked phone is a forged post
    data = edit_data(member, a, f_phone="06-11112222")
    data.pop("f_phone")
    data["f_first_name"] = "Anna"
    assert member.post("/avg/me/edit", data=data).status_code == 302
    data = edit_data(member, a)
    data.pop("f_phone")
    data |= {"f_first_name": "Anna", "f_phone": "06-11112222"}
    assert member.post("/avg/me/edit", data=data).status_code == 403
    db.session.expire_all()
    row = db.session.get(Member, a.member.id)
    assert row.first_name == "Anna" and row.phone == a.member.phone


def test_member_cannot_open_field_rights(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    assert client.get("/avg/fields").status_code == 403
    assert set(editable_columns(get_state())) == {"email", "phone", "street", "postcode", "city"}


BOARD_PAGES = ["/avg/requests", "/avg/requests/1", "/avg/fields"]
MEMBER_PAGES = ["/avg/me", "/avg/me/edit", "/avg/me/requests"]


def test_every_self_service_route_is_guarded(app):
    a = member_with_login(1)
    anonymous = app.test_client()
    for url in MEMBER_PAGES + BOARD_PAGES + ["/avg/requests/1/lift"]:
        method = anonymous.post if url.endswith("/lift") else anonymous.get
        response = method(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    member = logged_in(app.test_client(), a)
    for url in MEMBER_PAGES:
        assert member.get(url).status_code == 200, url
    for url in BOARD_PAGES:
        assert member.get(url).status_code == 403, url
    assert member.post("/avg/requests/1/lift").status_code == 403
    assert len(audit(outcome="denied")) == len(BOARD_PAGES) + 1


def test_a_member_erased_while_their_page_is_made_is_logged_out_not_shown_an_error(
    app, monkeypatch
):
    # the board's erasure commits between the page's own commit (the audit entry) and the
    # rendering: the page shows what it read and audited before the erasure (it reads
    # nothing again after its commit), or logs the member out; never a server error
    built = member_with_login(1)
    client = logged_in(app.test_client(), built)
    user_id, member_id = built.user.id, built.member.id
    real = service.view_own_data

    def erased_meanwhile(state, subject):
        data = real(state, subject)
        with db.engine.begin() as conn:
            conn.execute(sa.update(Member).where(Member.id == member_id).values(user_id=None))
            conn.execute(sa.delete(User).where(User.id == user_id))
        return data

    monkeypatch.setattr(service, "view_own_data", erased_meanwhile)
    response = client.get("/avg/me")
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
    monkeypatch.undo()
    again = client.get("/avg/me")  # the session ended with the account
    assert again.status_code == 302 and "/login" in again.headers["Location"]
