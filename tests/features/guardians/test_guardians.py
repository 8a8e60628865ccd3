"""Minors and guardians: age of consent, a parent acting for two children, invitations,
birthdays; on every database leg, with time frozen."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import select

from example_app import avg
from example_app.models import Member, db
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.consent.models import ConsentRecord
from flask_avg.features.guardians import service
from flask_avg.features.guardians.models import ACTIVE, ENDED, GuardianLink
from tests.support.app import csrf_token
from tests.support.self_service import PASSWORD, audit, logged_in, make_board, member_with_login
from tests.support.smtp import smtp_server, text_of

__all__ = ["smtp_server"]  # the fixture, used by name

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
TEN = date(2016, 3, 1)  # 10 on NOW
FIFTEEN = date(2010, 12, 1)  # 15 on NOW, 16 on 1 December 2026


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def family(app, frozen):
    parent = member_with_login(1)
    young = member_with_login(2, birth_date=TEN)
    teen = member_with_login(3, birth_date=FIFTEEN)
    for child in (young, teen):
        db.session.add(
            GuardianLink(
                subject=str(child.member.id),
                guardian=str(parent.user.id),
                status=ACTIVE,
                accepted_at=NOW,
            )
        )
    db.session.commit()
    return parent, young, teen


def _act_for(client, key: str) -> None:
    token = csrf_token(client, "/avg/me")
    resp = client.post("/avg/guardians/act", data={"csrf_token": token, "subject": key})
    assert resp.status_code == 302


def _answer(client, choice: str, purpose: str = "newsletter"):
    token = csrf_token(client, "/avg/me")
    return client.post(
        f"/avg/consent/{purpose}",
        data={"csrf_token": token, "choice": choice, "next": "/avg/me"},
    )


def test_age_from_the_declared_birth_date(app, frozen):
    state = get_state()
    young = member_with_login(2, birth_date=TEN)
    adult = member_with_login(1)
    unknown = member_with_login(4, birth_date=None)
    assert service.age_of(state, young.member) == 10
    assert service.is_minor(state, young.member)
    assert not service.is_minor(state, adult.member)
    assert service.age_of(state, unknown.member) is None
    assert not service.is_minor(state, unknown.member)  # unknown counts as of age
    assert get_state().registry.subject.birth_date_column.name == "birth_date"


def test_parent_gives_and_withdraws_consent_for_each_child(family, client):
    parent, young, teen = family
    logged_in(client, parent)
    page = client.get("/avg/me").get_data(as_text=True)
    assert 'id="avg-guardian-switch"' in page
    for child in (young, teen):
        _act_for(client, str(child.member.id))
        page = client.get("/avg/me").get_data(as_text=True)
        assert 'id="avg-guardian-acting"' in page
        assert child.member.email in page and parent.member.email not in page
        assert _answer(client, "give").status_code == 302
        assert avg.has_consent(child.member, "newsletter")
        assert _answer(client, "withdraw").status_code == 302
        db.session.expire_all()
        assert not avg.has_consent(child.member, "newsletter")
    # the parent's own consent was never touched
    assert not avg.has_consent(parent.member, "newsletter")
    _act_for(client, "")
    page = client.get("/avg/me").get_data(as_text=True)
    assert parent.member.email in page and 'id="avg-guardian-acting"' not in page

    # who acted on whose behalf: the guardian's account, the child's key
    entries = [e for e in audit() if e.action in ("consent.give", "consent.withdraw")]
    assert [(e.action, e.subject) for e in entries] == [
        ("consent.give", str(young.member.id)),
        ("consent.withdraw", str(young.member.id)),
        ("consent.give", str(teen.member.id)),
        ("consent.withdraw", str(teen.member.id)),
    ]
    for entry in entries:
        assert entry.actor == str(parent.user.id)
        assert json.loads(entry.detail_json)["on_behalf"] == "guardian"


def test_child_sees_what_the_guardian_did(family, client):
    parent, young, _teen = family
    logged_in(client, parent)
    _act_for(client, str(young.member.id))
    _answer(client, "give")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/avg/me")})
    child_client = app_client(client)
    logged_in(child_client, young)
    page = child_client.get("/avg/me").get_data(as_text=True)
    assert 'id="avg-guardian-acted"' in page
    assert "consent.give" in page and parent.user.email in page
    assert 'id="avg-guardian-minor"' in page


def app_of(_built):
    from flask import current_app

    return current_app._get_current_object()


def app_client(client):
    return client.application.test_client()


def test_childs_own_attempt_is_refused_in_words_a_child_understands(family, client):
    _parent, young, _teen = family
    logged_in(client, young)
    resp = _answer(client, "give")
    assert resp.status_code == 302 and resp.location.endswith("/avg/me")
    page = client.get("/avg/me").get_data(as_text=True)
    assert "Je bent jonger dan 16" in page
    assert not avg.has_consent(young.member, "newsletter")
    assert db.session.scalars(select(ConsentRecord)).all() == []
    # in English too
    client.get("/avg/lang/en")
    _answer(client, "give")
    page = client.get("/avg/me").get_data(as_text=True)
    assert "You are younger than 16" in page


def test_the_service_refuses_self_service_for_a_minor_outside_a_guardian(family):
    from flask_avg.core.subjects import ConsentRefused

    _parent, young, _teen = family
    with app_of(young).test_request_context("/"), pytest.raises(ConsentRefused):
        avg.record_consent(young.member, "newsletter", given=True, method="self_service")
    db.session.rollback()
    # the board recording a paper form signed by the parent is the board's call
    avg.record_consent(young.member, "newsletter", given=True, method="paper", recorded_by="9")
    db.session.commit()
    assert avg.has_consent(young.member, "newsletter")


def test_a_guardian_cannot_act_for_someone_elses_child(family, client):
    parent, _young, _teen = family
    stranger = member_with_login(7, birth_date=TEN)
    logged_in(client, parent)
    token = csrf_token(client, "/avg/me")
    resp = client.post(
        "/avg/guardians/act", data={"csrf_token": token, "subject": str(stranger.member.id)}
    )
    assert resp.status_code == 403
    page = client.get("/avg/me").get_data(as_text=True)
    assert stranger.member.email not in page
    assert audit("avg.guardians.act", "denied")
    # forging the session's choice does not help either: it is checked on every request
    with client.session_transaction() as sess:
        sess[service.SESSION_KEY] = str(stranger.member.id)
    page = client.get("/avg/me").get_data(as_text=True)
    assert stranger.member.email not in page and parent.member.email in page


def test_sixteenth_birthday_rights_pass_and_the_member_is_told(family, client, smtp_server):
    parent, young, teen = family
    client.application.config.update(smtp_server.config)
    logged_in(client, parent)
    _act_for(client, str(teen.member.id))
    _answer(client, "give")
    assert avg.has_consent(teen.member, "newsletter")
    state = get_state()

    assert service.birthdays(state).told == 0  # nobody is 16 yet
    with time_machine.travel(datetime(2026, 12, 1, 6, 0, tzinfo=UTC), tick=False):
        result = service.birthdays(state)
        assert (result.told, result.ended) == (1, 1)
        assert service.birthdays(state).told == 0  # once
        mails = smtp_server.to(teen.member.email)
        assert len(mails) == 1
        assert "16" in text_of(mails[0]) and "jij" in text_of(mails[0]).lower()
        link = db.session.scalars(
            select(GuardianLink).where(GuardianLink.subject == str(teen.member.id))
        ).one()
        assert (link.status, link.end_reason) == (ENDED, "age")
        # the consent the parent gave stays valid until the member changes it
        assert avg.has_consent(teen.member, "newsletter")
        # the parent's access to her has ended; the younger child's goes on
        client = app_client(client)
        logged_in(client, parent)
        resp = client.post(
            "/avg/guardians/act",
            data={"csrf_token": csrf_token(client, "/avg/me"), "subject": str(teen.member.id)},
        )
        assert resp.status_code == 403
        _act_for(client, str(young.member.id))
        # the member decides herself now
        teen_client = app_client(client)
        logged_in(teen_client, teen)
        assert _answer(teen_client, "withdraw").status_code == 302
        db.session.expire_all()
        assert not avg.has_consent(teen.member, "newsletter")
        assert audit("guardian.age_of_consent")[0].subject == str(teen.member.id)


def test_guardian_access_may_outlast_the_age_of_consent_but_not_consent(family, client):
    parent, _young, teen = family
    client.application.config["AVG_GUARDIAN_UNTIL_AGE"] = 18
    with time_machine.travel(datetime(2026, 12, 2, tzinfo=UTC), tick=False):
        assert service.birthdays(get_state()).ended == 0
        logged_in(client, parent)
        _act_for(client, str(teen.member.id))
        page = client.get("/avg/me").get_data(as_text=True)
        assert teen.member.email in page
        _answer(client, "give")
        page = client.get("/avg/me").get_data(as_text=True)
        assert "beslist nu zelf" in page
        assert not avg.has_consent(teen.member, "newsletter")


def test_board_invites_a_guardian_who_accepts_once(app, client, smtp_server, frozen):
    app.config.update(smtp_server.config)
    board = make_board(member_with_login(1))
    child = member_with_login(2, birth_date=TEN)
    parent = member_with_login(3)
    logged_in(client, board)
    url = f"/avg/guardians/members/{child.member.id}"
    page = client.get(f"/avg/members/{child.member.id}").get_data(as_text=True)
    assert url in page
    resp = client.post(url, data={"csrf_token": csrf_token(client, url), "email": "nope"})
    assert resp.status_code == 200 and "geldig e-mailadres" in resp.get_data(as_text=True)
    resp = client.post(
        url, data={"csrf_token": csrf_token(client, url), "email": parent.user.email}
    )
    assert resp.status_code == 302
    mails = smtp_server.to(parent.user.email)
    assert len(mails) == 1
    link_url = re.search(r"https?://\S+/avg/guardians/accept/\S+", text_of(mails[0])).group(0)
    path = link_url.split("club.test", 1)[1]
    invited = db.session.scalars(select(GuardianLink)).one()
    assert parent.user.email not in (invited.email_hash or "")

    # another account cannot use it
    other = member_with_login(4)
    other_client = app_client(client)
    logged_in(other_client, other)
    resp = other_client.post(path, data={"csrf_token": csrf_token(other_client, path)})
    assert resp.status_code == 403

    parent_client = app_client(client)
    logged_in(parent_client, parent)
    page = parent_client.get(path).get_data(as_text=True)
    assert child.member.first_name in page
    resp = parent_client.post(path, data={"csrf_token": csrf_token(parent_client, path)})
    assert resp.status_code == 302
    db.session.expire_all()
    link = db.session.scalars(select(GuardianLink)).one()
    assert (link.status, link.guardian) == (ACTIVE, str(parent.user.id))
    # once only
    assert parent_client.get(path).status_code == 410
    _act_for(parent_client, str(child.member.id))
    assert child.member.email in parent_client.get("/avg/me").get_data(as_text=True)

    # the board unlinks: access ends at once
    resp = client.post(
        f"/avg/guardians/links/{link.id}/unlink", data={"csrf_token": csrf_token(client, url)}
    )
    assert resp.status_code == 302
    page = parent_client.get("/avg/me").get_data(as_text=True)
    assert child.member.email not in page and parent.member.email in page


def test_invitation_expires(app, client, frozen):
    child = member_with_login(2, birth_date=TEN)
    parent = member_with_login(3)
    state = get_state()
    sent = []
    avg.mail_sender(sent.append)
    try:
        with app.test_request_context():
            service.invite(state, child.member, parent.user.email, actor=None)
    finally:
        avg._mail_sender = None
    path = re.search(r"/avg/guardians/accept/\S+", sent[0].body).group(0)
    frozen.shift(73 * 3600)
    logged_in(client, parent)
    resp = client.get(path)
    assert resp.status_code == 410 and "verlopen" in resp.get_data(as_text=True)
    assert client.get("/avg/guardians/accept/forged").status_code == 410


def test_erasing_a_child_or_guardian_removes_the_links(family):
    parent, young, teen = family
    avg.erase(young.member.id, reason="board")
    keys = set(db.session.scalars(select(GuardianLink.subject)))
    assert keys == {str(teen.member.id)}
    avg.erase(parent.member.id, reason="board")
    assert db.session.scalars(select(GuardianLink)).all() == []


def test_only_the_board_manages_guardians(family, client):
    parent, young, _teen = family
    logged_in(client, parent)
    assert client.get(f"/avg/guardians/members/{young.member.id}").status_code == 403
    link = db.session.scalars(select(GuardianLink)).first()
    resp = client.post(
        f"/avg/guardians/links/{link.id}/unlink",
        data={"csrf_token": csrf_token(client, "/avg/me")},
    )
    assert resp.status_code == 403
    assert db.session.get(GuardianLink, link.id).status == ACTIVE


def test_export_lists_guardian_links(family):
    parent, young, _teen = family
    from flask_avg.core.logins import logins_of
    from flask_avg.core.plugins import SubjectContext

    state = get_state()
    ctx = SubjectContext(state, db.session, young.member.id, logins_of(state, [young.member.id]))
    sections = list(state.plugins["guardians"].export(ctx))
    assert len(sections) == 1 and sections[0].rows[0]["guardian"] == parent.user.email


def test_acted_for_is_empty_without_guardians(app, frozen):
    lone = member_with_login(5)
    assert service.acted_for(get_state(), lone.member) == []
    assert db.session.scalars(select(AuditEntry)).all() is not None
    assert Member is not None and PASSWORD


def test_host_declares_guardians_from_its_own_parent_link(app, client, frozen):
    from flask_avg.features.guardians import plugin

    parent = member_with_login(1)
    child = member_with_login(2, birth_date=TEN)

    # plain keys: the loader runs inside the page's request, not in the test's session
    child_id, parent_id = child.member.id, parent.user.id

    def from_the_club_records(user):
        return [child_id] if user.id == parent_id else []

    plugin.guardian_loader(from_the_club_records)
    try:
        logged_in(client, parent)
        _act_for(client, str(child.member.id))
        assert _answer(client, "give").status_code == 302
        assert avg.has_consent(child.member, "newsletter")
    finally:
        plugin.loaders.remove(from_the_club_records)
    assert db.session.scalars(select(GuardianLink)).all() == []


def test_a_host_loader_may_return_rows(app, frozen):
    from flask_avg.features.guardians import plugin

    parent = member_with_login(1)
    child = member_with_login(2, birth_date=TEN)

    def rows(user):
        return [child.member]

    plugin.guardian_loader(rows)
    try:
        found = service.children_of(get_state(), parent.user)
    finally:
        plugin.loaders.remove(rows)
    assert [c.key for c in found] == [str(child.member.id)]
