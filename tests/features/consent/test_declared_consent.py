"""Data declared as kept on consent (``personal(..., basis="consent")``) gets a withdraw
switch, not an objection: withdrawing removes the member's values; objection is offered
only where Art. 21 applies (public task, legitimate interest, direct marketing)."""

from __future__ import annotations

from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.extension import get_state
from flask_avg.features.consent import service as consent
from flask_avg.features.consent.models import ConsentRecord
from flask_avg.features.requests import service as reqs
from tests.support.app import csrf_token
from tests.support.self_service import audit, details, logged_in, member_with_login

KEY = "data-first-aid-during-training"


def choose(client, key: str, choice: str):
    token = csrf_token(client, "/avg/me/requests")
    return client.post(
        f"/avg/consent/{key}",
        data={"csrf_token": token, "choice": choice, "next": "/avg/me/requests"},
    )


def notes(member_id: int) -> str | None:
    db.session.rollback()
    member = db.session.get(Member, member_id)
    assert member is not None
    return member.medical_notes


def test_a_consent_based_purpose_is_a_consent_with_a_withdraw_switch(app):
    state = get_state()
    declared = consent.declared_purposes(state)
    assert list(declared) == [KEY]
    assert consent.get_purpose(state, KEY).source == "declared"
    # the register keeps listing it as an activity, not as a second consent purpose
    assert KEY not in consent.purposes(state)

    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    page = client.get("/avg/me/requests").get_data(as_text=True)
    section = page.split('id="avg-consent-based"')[1]
    assert "Eerste hulp tijdens trainingen" in section
    assert f'action="/avg/consent/{KEY}"' in page
    assert "Medische bijzonderheden" in page and "dan verwijderen we ze" in page

    assert choose(client, KEY, "give").status_code == 302
    assert consent.has_consent(state, a.member.id, KEY)
    assert notes(a.member.id) == "medisch 1"
    page = client.get("/avg/me/requests").get_data(as_text=True)
    assert "Toestemming intrekken" in page

    assert choose(client, KEY, "withdraw").status_code == 302
    assert not consent.has_consent(state, a.member.id, KEY)
    # withdrawn: the data kept on that consent goes (Art. 17(1)(b)), audited without values
    assert notes(a.member.id) is None
    removed = audit("consent.data_removed")
    assert [(e.model, "medical_notes" in (e.fields or "")) for e in removed] == [("Member", True)]
    assert details(removed)[0] == {"purpose": KEY}
    assert "medisch 1" not in str([e.detail_json for e in audit()])
    records = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert [(r.purpose, r.given) for r in records] == [(KEY, True), (KEY, False)]


def test_withdrawing_touches_only_the_members_own_row(app):
    a = member_with_login(1)
    b = member_with_login(2)
    client = logged_in(app.test_client(), a)
    choose(client, KEY, "withdraw")
    assert notes(a.member.id) is None
    assert notes(b.member.id) == "medisch 2"


def test_objection_only_where_article_21_applies(app):
    state = get_state()
    # the example club declares contract, legal duty and consent purposes only
    assert reqs.objection_purposes(state) == {}
    assert list(reqs.consent_based_purposes(state)) == ["First aid during training"]
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    page = client.get("/avg/me/requests").get_data(as_text=True)
    objection = page.split('id="avg-new-objection"')[1].split("</section>")[0]
    assert "<select" not in objection
    assert "Geen van je gegevens wordt gebruikt op een grond" in objection
    token = csrf_token(client, "/avg/me/requests")
    response = client.post(
        "/avg/me/requests",
        data={"csrf_token": token, "kind": "objection", "purpose": "Membership administration"},
    )
    assert response.status_code == 400
    # direct marketing is always open to objection; a legitimate interest too
    app.config["AVG_OBJECTION_PURPOSES"] = ("newsletter",)
    assert list(reqs.objection_purposes(state)) == ["newsletter"]
    member = state.registry.subject
    spec = member.columns["phone"]
    original = (spec.purpose, spec.basis)
    try:
        object.__setattr__(spec, "purpose", {"nl": "Ledenwerving", "en": "Recruitment"})
        object.__setattr__(spec, "basis", "legitimate_interest")
        assert list(reqs.objection_purposes(state)) == ["Recruitment", "newsletter"]
    finally:
        object.__setattr__(spec, "purpose", original[0])
        object.__setattr__(spec, "basis", original[1])
