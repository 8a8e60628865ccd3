"""Member-editable fields on a one-to-one profile, linked to the member or to their login.

Three hosts (:mod:`tests.support.profile_club`): the profile points to the member;
to the login account a separate member row points to; to the login account that
is the member itself. On each, the member sees their profile, edits its editable
fields (creating the row when missing), asks for a correction of the others, and
never reaches another member's profile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from flask_avg.core.config import ConfigurationError
from flask_avg.core.models import AuditEntry
from flask_avg.core.signals import personal_data_changed
from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from flask_avg.features.self_service import field_policy, service
from tests.support.app import csrf_token
from tests.support.profile_club import KINDS, Host, declare, logged_in, running


@pytest.fixture(params=KINDS)
def host(request: pytest.FixtureRequest, db_url: str) -> Iterator[Host]:
    built = declare(request.param)
    with running(built, db_url):
        yield built


def _audit(host: Host, action: str, outcome: str = "ok") -> list[AuditEntry]:
    host.db.session.rollback()  # denials commit on a connection of their own
    stmt = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.outcome == outcome)
    return list(host.db.session.scalars(stmt.order_by(AuditEntry.id)))


def _edit_post(client: Any, subject: Any, **fields: str) -> Any:
    data = {"csrf_token": csrf_token(client, "/avg/me/edit"), "subject": str(subject.id)}
    data.update(fields)
    return client.post("/avg/me/edit", data=data)


def _full(host: Host, subject: Any, **overrides: str) -> dict[str, str]:
    """Every field the edit form offers, as the member's own values, with ``overrides``."""
    profile = host.profile_of(subject)
    fields = {
        "f_Profile.street": profile.street if profile else "",
        "f_Profile.city": profile.city if profile else "",
    }
    if host.kind != "user":
        fields["f_name"] = subject.name
    fields.update(overrides)
    return fields


# -- the registry: what is one-to-one ---------------------------------------------


def test_the_profile_is_one_to_one_and_the_notes_are_not(host):
    registry = get_state().registry
    assert registry.get("Profile").one_to_one
    assert not registry.get("Note").one_to_one
    if host.kind == "login":  # up to the login, then down its unique link to the member
        (up, down) = registry.get("Profile").path
        assert up.up and up.dst.name == "pc_accounts"
        assert not down.up and down.dst.name == "pc_members"


@pytest.mark.parametrize("kind", KINDS)
def test_editable_on_a_one_to_many_model_fails_at_init_app(kind, db_url):
    with (
        pytest.raises(ConfigurationError) as caught,
        running(declare(kind, note_editable=True), db_url),
    ):
        pass
    message = str(caught.value)
    assert "Note.text: editable=True needs a one-to-one model" in message
    assert "several Note rows" in message and "pc_notes -" in message


def test_a_login_link_that_is_not_unique_is_no_path_for_a_profile(db_url):
    # several members could share the login: the profile would belong to all of them
    host = declare("login", unique_login=False)
    with pytest.raises(ConfigurationError) as caught, running(host, db_url):
        pass
    errors = str(caught.value).split("\n  - ")[1:]
    assert errors == [
        "Profile: no foreign-key path from table 'pc_profiles' to the subject table 'pc_members'"
    ]


# -- seeing it ----------------------------------------------------------------------


def test_my_data_shows_my_profile_and_not_another_members(host):
    ann = host.person("ann")
    bob = host.person("bob")
    html = logged_in(host.app, host, ann).get("/avg/me").get_data(as_text=True)
    for value in ("annstraat 1", "annstad", "ann is allergic"):
        assert re.search(f'<(td|dd) data-field="{_field(value)}">{value}</(td|dd)>', html)
    for value in ("bobstraat 1", "bobstad", "bob is allergic"):
        assert value not in html
    data = service.view_own_data(get_state(), host.db.session.get(host.Member, bob.id))
    profiles = [md for md in data.models if md.model.name == "Profile"]
    assert [[f.value for f in r.fields] for r in profiles[0].records] == [
        ["bobstraat 1", "bobstad", "bob is allergic", "M"]
    ]


def _field(value: str) -> str:
    return {"annstraat 1": "street", "annstad": "city", "ann is allergic": "health_note"}[value]


# -- editing it ---------------------------------------------------------------------


def test_the_form_offers_the_editable_profile_fields_prefilled(host):
    ann = host.person("ann")
    html = logged_in(host.app, host, ann).get("/avg/me/edit").get_data(as_text=True)
    assert 'name="f_Profile.street"' in html and 'value="annstraat 1"' in html
    assert 'name="f_Profile.city"' in html and 'value="annstad"' in html
    for locked in (
        "f_Profile.shirt_size",
        "f_Profile.health_note",
        f"f_Profile.{host.profile_link}",
    ):
        assert f'name="{locked}"' not in html
    assert "<legend>Profile</legend>" in html


def test_an_edit_is_stored_audited_and_signalled(host):
    ann = host.person("ann")
    bob = host.person("bob")
    client = logged_in(host.app, host, ann)
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kw: Any) -> None:
        seen.append({"model": kw["model"], "fields": kw["fields"], "subject": kw["subject"].id})

    with personal_data_changed.connected_to(receiver, host.app):
        response = _edit_post(client, ann, **_full(host, ann, **{"f_Profile.street": "Kade 9"}))
    assert response.status_code == 302
    assert host.profile_of(ann).street == "Kade 9"
    assert host.profile_of(bob).street == "bobstraat 1"
    entries = _audit(host, "self.edit")
    assert [(e.model, e.fields, e.subject) for e in entries] == [("Profile", "street", str(ann.id))]
    assert all("Kade 9" not in (e.detail_json or "") for e in entries)
    assert seen == [{"model": "Profile", "fields": ["street"], "subject": ann.id}]


def test_a_missing_profile_is_created_linked_to_the_member(host):
    ann = host.person("ann", profile=False)
    bob = host.person("bob", profile=False)
    client = logged_in(host.app, host, ann)
    html = client.get("/avg/me/edit").get_data(as_text=True)
    assert 'name="f_Profile.street"' in html
    response = _edit_post(client, ann, **_full(host, ann, **{"f_Profile.city": "Delft"}))
    assert response.status_code == 302
    profile = host.profile_of(ann)
    assert profile is not None and profile.city == "Delft" and profile.street is None
    assert host.profile_of(bob) is None
    assert [(e.model, e.fields) for e in _audit(host, "self.edit")] == [("Profile", "city")]
    # and the member's page shows it
    html = client.get("/avg/me").get_data(as_text=True)
    assert re.search('<(td|dd) data-field="city">Delft</(td|dd)>', html)


def test_a_profile_left_empty_is_not_created_and_a_started_one_needs_its_required_fields(host):
    ann = host.person("ann", profile=False)
    client = logged_in(host.app, host, ann)
    assert _edit_post(client, ann, **_full(host, ann)).status_code == 302
    assert host.profile_of(ann) is None
    assert _audit(host, "self.edit") == []
    # a street without the city (NOT NULL): refused, nothing made
    response = _edit_post(client, ann, **_full(host, ann, **{"f_Profile.street": "Kade 1"}))
    assert response.status_code == 400
    assert "Dit veld is verplicht." in response.get_data(as_text=True)
    assert host.profile_of(ann) is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_profile_that_cannot_be_created_here_says_so(kind, db_url):
    host = declare(kind, required_extra=True)  # a NOT NULL column no member may fill
    with running(host, db_url):
        ann = host.person("ann", profile=False)
        html = logged_in(host.app, host, ann).get("/avg/me/edit").get_data(as_text=True)
        assert 'name="f_Profile.street"' not in html
        assert "Profile" in html and "kan hier niet worden aangemaakt" in html
        with pytest.raises(service.ProfileMissing):
            service.correct(get_state(), ann, {"Profile.city": "Delft"}, actor=None)
        assert host.profile_of(ann) is None


def test_a_value_from_the_api_by_key(host):
    ann = host.person("ann")
    state = get_state()
    changed = service.correct(state, ann, {"Profile.city": "Leiden"}, actor="x")
    assert changed == ["Profile.city"]
    assert host.profile_of(ann).city == "Leiden"
    assert service.correct(state, ann, {"Profile.city": "Leiden"}, actor="x") == []
    with pytest.raises(KeyError):
        service.correct(state, ann, {"Note.text": "x"}, actor="x")  # not one-to-one


# -- never another member's ---------------------------------------------------------


def test_another_members_profile_is_never_reachable(host):
    ann = host.person("ann")
    bob = host.person("bob")
    client = logged_in(host.app, host, ann)
    # bob's key in the form
    other = _edit_post(client, bob, **_full(host, ann, **{"f_Profile.street": "Hack 1"}))
    assert other.status_code == 403
    # re-pointing the profile's link at bob
    link = _edit_post(
        client,
        ann,
        **_full(host, ann, **{f"f_Profile.{host.profile_link}": str(host.link_value(bob))}),
    )
    assert link.status_code == 403
    # a field of a model that is not one-to-one
    note = _edit_post(client, ann, **_full(host, ann, **{"f_Note.text": "hack"}))
    assert note.status_code == 403
    assert host.profile_of(bob).street == "bobstraat 1"
    assert host.profile_of(ann).street == "annstraat 1"
    reasons = [json.loads(e.detail_json)["reason"] for e in _audit(host, "self.edit", "denied")]
    assert reasons == ["other_subject", "locked_field", "locked_field"]


# -- asking for a correction --------------------------------------------------------


def test_a_correction_request_for_a_locked_profile_field_reaches_the_queue(host):
    ann = host.person("ann")
    client = logged_in(host.app, host, ann)
    page = client.get("/avg/me/requests").get_data(as_text=True)
    assert 'value="Profile.shirt_size"' in page and 'value="Profile.health_note"' in page
    assert 'value="Profile.street"' not in page  # editable: no request needed
    token = csrf_token(client, "/avg/me/requests")
    data = {
        "csrf_token": token,
        "kind": "correction",
        "field": "Profile.shirt_size",
        "message": "L",
    }
    assert client.post("/avg/me/requests", data=data).status_code == 302
    queue = reqs.queue(get_state())
    assert [(r.kind, r.field, r.subject, r.message) for r in queue] == [
        ("correction", "Profile.shirt_size", str(ann.id), "L")
    ]
    # an editable field, or a model's field that is no profile, is refused
    for field in ("Profile.street", "Note.text"):
        data = {"csrf_token": token, "kind": "correction", "field": field, "message": "x"}
        assert client.post("/avg/me/requests", data=data).status_code == 400
    assert len(reqs.queue(get_state(), show="all")) == 1


# -- the board's field rights -------------------------------------------------------


def test_the_board_opens_and_locks_profile_fields(host):
    ann = host.person("ann")
    state = get_state()
    keys = {r.key: r for r in field_policy.rights(state)}
    assert keys["Profile.street"].editable and not keys["Profile.shirt_size"].editable
    assert f"Profile.{host.profile_link}" not in keys  # a link is never member-editable
    changed = service.save_field_rights(
        state, {"Profile.shirt_size": True, "Profile.street": False}, actor="board"
    )
    assert sorted(changed) == ["Profile.shirt_size", "Profile.street"]
    entries = _audit(host, "fields.rights")
    assert [(e.model, e.field_list) for e in entries] == [("Profile", ["shirt_size", "street"])]
    assert "Profile.shirt_size" in field_policy.editable_columns(state)
    assert "Profile.street" in field_policy.locked_columns(state)
    html = logged_in(host.app, host, ann).get("/avg/me/edit").get_data(as_text=True)
    assert 'name="f_Profile.shirt_size"' in html and 'name="f_Profile.street"' not in html


# -- erasure follows the same link --------------------------------------------------


def test_erasing_a_member_takes_their_profile_and_leaves_the_others(host):
    ann = host.person("ann")
    bob = host.person("bob")
    ann_id, ann_link = ann.id, host.link_value(ann)
    get_state().erase_subject(ann_id)
    host.db.session.expire_all()
    link = getattr(host.Profile, host.profile_link)
    left = host.db.session.scalars(select(host.Profile).where(link == ann_link)).all()
    assert left == []
    assert host.profile_of(bob).street == "bobstraat 1"
