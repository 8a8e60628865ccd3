"""Consent: opt-in by default, provable answers, withdrawal, re-asking on a text change,
the SQL filter for bulk mailings, expiry reminders; on every database leg."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from example_app import avg
from example_app.models import Member, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.signals import consent_expiring
from flask_avg.extension import get_state
from flask_avg.features.consent import service as consent
from flask_avg.features.consent.models import ConsentPurposeRow, ConsentRecord, ConsentText
from tests.support.app import csrf_token, login
from tests.support.factories import full_member


def _board_purpose(key: str = "photos", text: str = "Foto's op de website", **kw) -> None:
    db.session.add(
        ConsentPurposeRow(key=key, label="Foto's", text=text, version=kw.pop("version", "1"), **kw)
    )
    db.session.commit()


def _mailing_list() -> set[int]:
    return set(db.session.scalars(select(Member.id).where(avg.consent_filter("newsletter"))))


def test_nobody_has_consent_until_they_give_it(app):
    a = full_member(1)
    db.session.commit()
    assert not avg.has_consent(a.member, "newsletter")
    assert _mailing_list() == set()


def test_record_proves_text_version_and_method(app):
    a = full_member(1)
    db.session.commit()
    avg.record_consent(a.member, "newsletter", given=True, method="signup_form")
    db.session.commit()
    rec = db.session.scalars(select(ConsentRecord)).one()
    purpose = consent.get_purpose(get_state(), "newsletter")
    assert rec.subject == str(a.member.id)
    assert rec.version == "2026-1"
    assert rec.text_hash == hashlib.sha256(purpose.text.encode()).hexdigest()
    assert rec.method == "signup_form" and rec.ip is None and rec.given
    text = db.session.get(ConsentText, ("newsletter", rec.text_hash))
    assert text is not None and text.text == purpose.text
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "consent.give")).one()
    assert audit.subject == str(a.member.id) and audit.detail["purpose"] == "newsletter"
    assert avg.has_consent(a.member, "newsletter")
    assert avg.has_consent(a.member.id, "newsletter")


def test_member_gives_and_withdraws_on_own_page(app, client):
    from example_app.demo import seed

    seed(n_members=5)
    member = db.session.scalars(select(Member).where(Member.email == "lid@example.org")).one()
    login(client, "lid@example.org")
    page = client.get("/avg/me").get_data(as_text=True)
    assert 'data-purpose="newsletter"' in page and 'value="give"' in page
    token = csrf_token(client, "/avg/me")
    resp = client.post("/avg/consent/newsletter", data={"csrf_token": token, "choice": "give"})
    assert resp.status_code == 302
    assert avg.has_consent(member, "newsletter")
    page = client.get("/avg/me").get_data(as_text=True)
    assert 'value="withdraw"' in page
    resp = client.post(
        "/avg/consent/newsletter",
        data={"csrf_token": token, "choice": "withdraw", "next": "/avg/me"},
    )
    assert resp.location.endswith("/avg/me")
    db.session.expire_all()
    assert not avg.has_consent(member, "newsletter")
    assert member.id not in _mailing_list()
    answers = db.session.scalars(select(ConsentRecord.given).order_by(ConsentRecord.id)).all()
    assert answers == [True, False]
    # A forged post without the CSRF token changes nothing.
    assert client.post("/avg/consent/newsletter", data={"choice": "give"}).status_code == 400
    assert not avg.has_consent(member, "newsletter")


def test_ip_is_kept_only_when_switched_on(app, client):
    from example_app.demo import seed

    seed(n_members=3)
    login(client, "lid@example.org")
    token = csrf_token(client, "/avg/me")
    client.post("/avg/consent/newsletter", data={"csrf_token": token, "choice": "give"})
    app.config["AVG_CONSENT_RECORD_IP"] = True
    client.post("/avg/consent/newsletter", data={"csrf_token": token, "choice": "withdraw"})
    ips = db.session.scalars(select(ConsentRecord.ip).order_by(ConsentRecord.id)).all()
    assert ips == [None, "127.0.0.1"]


def test_text_change_reasks_members_and_counts_old_versions(app, client):
    from example_app.demo import seed

    seed(n_members=5)
    _board_purpose()
    state = get_state()
    members = db.session.scalars(select(Member).order_by(Member.id)).all()
    lid = next(m for m in members if m.email == "lid@example.org")
    for m in members[:4]:
        consent.record(state, m, "photos", given=True)
    consent.record(state, members[4], "photos", given=False)
    db.session.commit()
    counts = {c.purpose.key: c for c in consent.counts(state)}
    assert (counts["photos"].current, counts["photos"].outdated, counts["photos"].withdrawn) == (
        4,
        0,
        1,
    )

    row = db.session.get(ConsentPurposeRow, "photos")
    row.text, row.version = "Foto's en video's op de website en in de clubapp", "2"
    db.session.commit()
    counts = {c.purpose.key: c for c in consent.counts(state)}
    assert (counts["photos"].current, counts["photos"].outdated) == (0, 4)
    assert [p.key for p in consent.outdated_for(state, lid)] == ["photos"]
    assert consent.outdated_for(state, members[4]) == []  # said no: not asked again
    assert avg.has_consent(lid, "photos")
    assert not avg.has_consent(lid, "photos", current_version=True)

    login(client, "lid@example.org")
    resp = client.get("/avg/me")
    assert resp.status_code == 302 and "/avg/consent/review" in resp.location
    review = client.get(resp.location).get_data(as_text=True)
    assert "clubapp" in review
    token = csrf_token(client, resp.location)
    client.post("/avg/consent/photos", data={"csrf_token": token, "choice": "give"})
    assert client.get("/avg/me").status_code == 200
    counts = {c.purpose.key: c for c in consent.counts(state)}
    assert (counts["photos"].current, counts["photos"].outdated) == (1, 3)


def test_board_sees_how_many_are_on_an_old_text(app, client):
    from example_app.demo import seed

    seed(n_members=6)
    _board_purpose()
    state = get_state()
    for m in db.session.scalars(select(Member).order_by(Member.id)).all()[3:]:
        consent.record(state, m, "photos", given=True)
    db.session.get(ConsentPurposeRow, "photos").text = "Nieuwe tekst"
    db.session.commit()
    login(client, "bestuur@example.org")
    page = client.get("/avg/consent/purposes").get_data(as_text=True)
    row = page[page.index('data-purpose="photos"') :]
    assert '<td data-count="outdated" class="avg-overdue">3</td>' in row


def test_code_declared_text_change_reasks(app, monkeypatch):
    a = full_member(1)
    db.session.commit()
    avg.record_consent(a.member, "newsletter", given=True, method="self_service")
    db.session.commit()
    state = get_state()
    assert consent.outdated_for(state, a.member) == []
    old = state.ext._consent_purposes["newsletter"]
    monkeypatch.setitem(
        state.ext._consent_purposes,
        "newsletter",
        consent.Purpose("newsletter", old.label, old.text + " Ook per app.", "2026-2"),
    )
    assert [p.version for p in consent.outdated_for(state, a.member)] == ["2026-2"]


def test_sql_filter_selects_exactly_the_consenting_members(app):
    built = [full_member(n) for n in range(1, 7)]
    db.session.commit()
    state = get_state()
    for b in built[:3]:
        consent.record(state, b.member, "newsletter", given=True)
    consent.record(state, built[2].member, "newsletter", given=False)
    consent.record(state, built[3].member, "newsletter", given=False)
    db.session.commit()
    assert _mailing_list() == {built[0].member.id, built[1].member.id}
    # Composes with the host's own conditions.
    both = db.session.scalars(
        select(Member.id).where(avg.consent_filter("newsletter"), Member.id != built[0].member.id)
    ).all()
    assert both == [built[1].member.id]


def test_expiry_drops_consent_and_sends_one_reminder(app):
    _board_purpose("sms", "SMS bij afgelasting", expires_days=365)
    a = full_member(1)
    db.session.commit()
    state = get_state()
    reminded: list[tuple[str, str]] = []

    def on_expiring(sender, subject_id, purpose, expires_at):  # noqa: ANN001
        reminded.append((subject_id, purpose))

    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        consent.record(state, a.member, "sms", given=True)
        db.session.commit()
    consent_expiring.connect(on_expiring, app)
    try:
        with time_machine.travel(start + timedelta(days=300), tick=False):
            assert consent.send_expiry_reminders(state, within_days=30) == 0
        with time_machine.travel(start + timedelta(days=340), tick=False):
            assert consent.send_expiry_reminders(state, within_days=30) == 1
            db.session.commit()
            assert consent.send_expiry_reminders(state, within_days=30) == 0
            assert avg.has_consent(a.member, "sms")
        with time_machine.travel(start + timedelta(days=366), tick=False):
            assert not avg.has_consent(a.member, "sms")
            ids = db.session.scalars(select(Member.id).where(avg.consent_filter("sms"))).all()
            assert ids == []
            counts = {c.purpose.key: c for c in consent.counts(state)}
            assert counts["sms"].expired == 1 and counts["sms"].current == 0
    finally:
        consent_expiring.disconnect(on_expiring, app)
    assert reminded == [(str(a.member.id), "sms")]


def test_board_records_paper_consent_with_who_recorded_it(app, client):
    from example_app.demo import seed

    seed(n_members=4)
    member = db.session.scalars(select(Member).order_by(Member.id.desc())).first()
    login(client, "bestuur@example.org")
    url = f"/avg/consent/members/{member.id}"
    token = csrf_token(client, url)
    resp = client.post(url, data={"csrf_token": token, "purpose": "newsletter", "choice": "give"})
    assert resp.status_code == 302
    rec = db.session.scalars(select(ConsentRecord)).one()
    assert rec.method == "paper" and rec.recorded_by is not None
    assert avg.has_consent(member, "newsletter")


def test_members_cannot_open_the_board_consent_screens(app, client):
    from example_app.demo import seed

    seed(n_members=3)
    login(client, "lid@example.org")
    assert client.get("/avg/consent/purposes").status_code == 403
    assert client.get("/avg/consent/members/1").status_code == 403


def test_retired_board_purpose_still_answers_and_forget_clears_state(app):
    _board_purpose("sms", "SMS bij afgelasting")
    a = full_member(1)
    db.session.commit()
    app.config["AVG_CONSENT_RECORD_IP"] = True
    state = get_state()
    consent.record(state, a.member, "sms", given=True)
    db.session.get(ConsentPurposeRow, "sms").active = False
    db.session.commit()
    assert "sms" not in consent.purposes(state)
    assert avg.has_consent(a.member, "sms")  # a host's check does not break
    assert consent.forget(state, a.member) == 1
    db.session.commit()
    assert not avg.has_consent(a.member, "sms")
    rec = db.session.scalars(select(ConsentRecord)).one()
    assert rec.ip is None and rec.given  # the proof stays, without the address
