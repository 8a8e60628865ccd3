"""Data-subject requests: filing, the duplicate guard, the board's queue, deadlines and effects."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from example_app import avg
from example_app.models import Member, User, db
from flask_avg.core.signals import request_event
from flask_avg.extension import get_state
from flask_avg.features.requests import service as reqs
from flask_avg.features.requests.service import DataRequest
from tests.support.app import csrf_token
from tests.support.self_service import (
    PASSWORD,
    audit,
    details,
    edit_data,
    logged_in,
    make_board,
    member_with_login,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def file(client, kind: str, **data):
    token = csrf_token(client, "/avg/me/requests")
    return client.post("/avg/me/requests", data={"csrf_token": token, "kind": kind, **data})


def board_action(client, request_id: int, status: str, reason: str = ""):
    url = f"/avg/requests/{request_id}"
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token, "status": status, "reason": reason})


def confirm_erasure(client, request_id: int):
    """The board's erasure of a request: its preview page, then the confirmation."""
    url = f"/avg/requests/{request_id}/erase"
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token})


def requests_in_db() -> list[DataRequest]:
    db.session.rollback()
    return list(db.session.scalars(select(DataRequest).order_by(DataRequest.id)))


@pytest.fixture
def events(app):
    seen: list[tuple[str, int]] = []

    def receiver(sender, request, event):
        seen.append((event, request.id))

    with request_event.connected_to(receiver, app):
        yield seen


@pytest.fixture
def mails(monkeypatch):
    sent: list[reqs.Mail] = []
    monkeypatch.setattr(avg, "_mail_sender", None)  # restored after the test
    avg.mail_sender(sent.append)
    return sent


# -- filing --------------------------------------------------------------------------


def test_member_files_each_kind_with_deadline_signal_and_mails(app, events, mails):
    app.config["AVG_OBJECTION_PURPOSES"] = ("newsletter",)
    a = member_with_login(1)
    with time_machine.travel(T0, tick=False):
        # log in inside the frozen time: session cookies from the future do not verify
        client = logged_in(app.test_client(), a)
        assert file(client, "erasure", password=PASSWORD).status_code == 302
        assert file(client, "restriction", message="Klopt mijn adres?").status_code == 302
        assert file(client, "objection", purpose="newsletter").status_code == 302
        assert file(client, "correction", field="last_name", message="Jansen").status_code == 302
    found = requests_in_db()
    assert [r.kind for r in found] == ["erasure", "restriction", "objection", "correction"]
    for r in found:
        assert r.status == "received" and r.subject == str(a.member.id)
        assert r.user_id == str(a.user.id)
        assert r.received_at == T0
        assert r.deadline == T0 + timedelta(days=30)
    assert found[2].purpose == "newsletter"
    assert found[3].field == "Member.last_name" and found[3].new_value == "Jansen"
    assert {(r.channel, r.identity_check) for r in found} == {("online", "account")}
    assert events == [("received", r.id) for r in found]
    assert [(m.to, m.event) for m in mails[:2]] == [("member", "received"), ("board", "received")]
    assert mails[0].user_id == str(a.user.id)
    assert mails[0].user.email == "m1@example.org"  # for the host's mail hook
    assert mails[1].user is None
    assert "Verwijdering van mijn gegevens" in mails[0].subject_line
    assert [d["kind"] for d in details(audit("request.received"))] == [r.kind for r in found]
    client = logged_in(app.test_client(), a)
    page = client.get("/avg/me/requests").get_data(as_text=True)
    # one open request per kind; corrections one per field (the others stay open)
    assert page.count("Je hebt al een openstaand verzoek van deze soort.") == 3
    assert 'option value="last_name"' not in page and 'option value="first_name"' in page
    assert "antwoord uiterlijk" in page


def test_erasure_needs_the_password_again(app, events):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    response = file(client, "erasure", password="fout")
    assert response.status_code == 400
    assert "Dat wachtwoord klopt niet." in response.get_data(as_text=True)
    assert file(client, "erasure").status_code == 400
    assert requests_in_db() == []
    assert events == []
    assert [d["reason"] for d in details(audit("self.request", outcome="denied"))] == [
        "password",
        "password",
    ]


def test_host_password_checker_replaces_the_default(app, monkeypatch):
    monkeypatch.setattr(avg, "_password_checker", None)
    calls = []

    @avg.password_checker
    def check(user, password):
        calls.append((type(user), user.id))
        return password == "via-ldap"

    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    assert file(client, "erasure", password=PASSWORD).status_code == 400
    assert file(client, "erasure", password="via-ldap").status_code == 302
    assert calls == [(User, a.user.id), (User, a.user.id)]  # the user itself, not a proxy


def test_default_password_checker_uses_werkzeug_hash(app):
    a = member_with_login(1)
    assert reqs.default_password_checker(a.user, PASSWORD)
    assert not reqs.default_password_checker(a.user, "")
    assert not reqs.default_password_checker(object(), PASSWORD)


def test_invalid_requests_are_refused(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    assert file(client, "objection", purpose="Nothing we declared").status_code == 400
    assert file(client, "correction", field="phone", message="x").status_code == 400  # editable
    assert file(client, "correction", field="last_name").status_code == 400  # no new value
    assert file(client, "bogus").status_code == 400
    response = client.post("/avg/me/requests", data={"kind": "restriction"})  # no CSRF token
    assert response.status_code == 400
    assert requests_in_db() == []


def test_only_logged_in_members_file_requests(app):
    client = app.test_client()
    response = client.post("/avg/me/requests", data={"kind": "restriction"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert requests_in_db() == []


# -- the duplicate guard ----------------------------------------------------------------


def test_one_open_request_per_kind_per_member(app):
    a = member_with_login(1)
    b = member_with_login(2)
    boss = make_board(member_with_login(3))
    client = logged_in(app.test_client(), a)
    assert file(client, "restriction").status_code == 302
    response = file(client, "restriction")
    assert response.status_code == 400
    assert "Je hebt al een openstaand verzoek van deze soort." in response.get_data(as_text=True)
    assert file(client, "erasure", password=PASSWORD).status_code == 302  # another kind is fine
    other = logged_in(app.test_client(), b)
    assert file(other, "restriction").status_code == 302  # another member is fine
    assert len(requests_in_db()) == 3
    # once closed, the member may ask again
    first = requests_in_db()[0]
    board = logged_in(app.test_client(), boss)
    assert board_action(board, first.id, "rejected", "Geen grond").status_code == 302
    client = logged_in(app.test_client(), a)
    assert file(client, "restriction").status_code == 302
    assert [r.status for r in requests_in_db() if r.kind == "restriction"] == [
        "rejected",
        "received",
        "received",
    ]


def test_database_refuses_a_second_open_request_of_a_kind(app):
    state = get_state()
    reqs.file_request(state, 7, "restriction", user_id="1")
    now = datetime.now(UTC)
    db.session.add(
        DataRequest(
            subject="7",
            kind="restriction",
            status="received",
            open_key="open",
            received_at=now,
            deadline=now,
            updated_at=now,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(reqs.RequestError):
        reqs.file_request(state, 7, "restriction", user_id="1")


# -- the board's queue and the lifecycle ------------------------------------------------------


def test_lifecycle_through_the_queue(app, events, mails):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    client = logged_in(app.test_client(), a)
    file(client, "correction", field="last_name", message="Jansen")
    req = requests_in_db()[0]
    member_client = client

    board = logged_in(app.test_client(), boss)
    queue = board.get("/avg/requests").get_data(as_text=True)
    assert f'data-request="{req.id}"' in queue
    assert "Correctie van een gegeven" in queue
    assert board_action(board, req.id, "in_progress").status_code == 302
    assert requests_in_db()[0].status == "in_progress"
    # a rejection needs a reason; completing from a closed state is not possible
    response = board_action(board, req.id, "rejected")
    assert "bij een afwijzing hoort een reden" in response.get_data(as_text=True)
    assert requests_in_db()[0].status == "in_progress"
    assert board_action(board, req.id, "rejected", "Achternaam klopt al").status_code == 302
    done = requests_in_db()[0]
    assert done.status == "rejected" and done.reason == "Achternaam klopt al"
    assert done.handled_by == str(boss.user.id) and done.open_key is None
    assert board_action(board, req.id, "completed").status_code == 200
    assert requests_in_db()[0].status == "rejected"
    assert [e for e, _id in events] == ["received", "in_progress", "rejected"]
    rejected_mail = [m for m in mails if m.event == "rejected" and m.to == "member"][0]
    assert "Achternaam klopt al" in rejected_mail.body
    # the open queue no longer lists it, the full list does
    assert f'data-request="{req.id}"' not in board.get("/avg/requests").get_data(as_text=True)
    assert f'data-request="{req.id}"' in board.get("/avg/requests?show=all").get_data(as_text=True)
    page = member_client.get("/avg/me/requests").get_data(as_text=True)
    assert "Afgewezen" in page and "Reden: Achternaam klopt al" in page
    assert [e.action for e in audit() if e.action.startswith("request.")] == [
        "request.received",
        "request.in_progress",
        "request.rejected",
    ]


def test_members_cannot_handle_requests(app):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    file(client, "restriction")
    req = requests_in_db()[0]
    assert client.get("/avg/requests").status_code == 403
    token = csrf_token(client, "/avg/me/requests")
    response = client.post(
        f"/avg/requests/{req.id}", data={"csrf_token": token, "status": "completed"}
    )
    assert response.status_code == 403
    assert requests_in_db()[0].status == "received"


def test_default_mail_sender_writes_to_the_log(app, caplog):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        file(client, "restriction")
    lines = [r.getMessage() for r in caplog.records if "flask-avg mail" in r.getMessage()]
    assert len(lines) == 2
    assert "m1@example.org" not in " ".join(lines)


# -- deadlines, overdue, dashboard ---------------------------------------------------------


def test_deadline_overdue_view_and_dashboard_counts_with_time_frozen(app):
    a = member_with_login(1)
    b = member_with_login(2)
    boss = make_board(member_with_login(3))
    app.config["AVG_REQUEST_DEADLINE_DAYS"] = 10
    with time_machine.travel(T0, tick=False):
        file(logged_in(app.test_client(), a), "restriction")
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        file(logged_in(app.test_client(), b), "restriction")
    late, fresh = requests_in_db()
    assert late.deadline == T0 + timedelta(days=10)
    state = get_state()
    panel = next(p for p in state.dashboard if p.key == "requests")
    assert panel.action == "avg.requests.handle"

    with time_machine.travel(T0 + timedelta(days=10), tick=False):
        assert reqs.counts(state) == {"open": 2, "overdue": 0, "due_soon": 1}
        board = logged_in(app.test_client(), boss)
        assert "avg-overdue" not in board.get("/avg/requests").get_data(as_text=True)
    with time_machine.travel(T0 + timedelta(days=10, seconds=1), tick=False):
        assert reqs.counts(state) == {"open": 2, "overdue": 1, "due_soon": 0}
        assert panel.context(state) == {"counts": {"open": 2, "overdue": 1, "due_soon": 0}}
        board = logged_in(app.test_client(), boss)
        html = board.get("/avg/requests").get_data(as_text=True)
        assert f'<tr data-request="{late.id}" class="avg-overdue">' in html
        assert f'<tr data-request="{fresh.id}">' in html
        menu, page = html.split('id="avg-main"', 1)
        # the menu's badge counts the late one for screen readers too
        assert '1<span class="avg-visually-hidden"> te laat</span>' in menu
        assert page.count("te laat") == 2  # the counts line and the late one's deadline cell
        # overdue requests come first (ordered by deadline)
        assert html.index(f'data-request="{late.id}"') < html.index(f'data-request="{fresh.id}"')
        detail = board.get(f"/avg/requests/{late.id}").get_data(as_text=True)
        assert 'class="avg-overdue"' in detail
        assert board_action(board, late.id, "completed").status_code == 302
        assert reqs.counts(state)["overdue"] == 0


# -- effects: restriction and objection ------------------------------------------------------


def _member_ids(*where) -> set[int]:
    db.session.rollback()
    return set(db.session.scalars(select(Member.id).where(*where)))


def test_completed_restriction_takes_effect_and_can_be_lifted(app):
    a = member_with_login(1)
    b = member_with_login(2)
    boss = make_board(member_with_login(3))
    everyone = {a.member.id, b.member.id, boss.member.id}
    assert _member_ids(avg.not_restricted()) == everyone
    client = logged_in(app.test_client(), a)
    file(client, "restriction")
    req = requests_in_db()[0]
    assert _member_ids(avg.not_restricted()) == everyone  # not before it is granted
    board = logged_in(app.test_client(), boss)
    board_action(board, req.id, "completed")
    state = get_state()
    assert reqs.is_restricted(state, a.member.id)
    assert _member_ids(avg.not_restricted()) == everyone - {a.member.id}
    # while restricted, no edits through flask-avg
    client = logged_in(app.test_client(), a)
    response = client.post("/avg/me/edit", data=edit_data(client, a, f_phone="06-55555555"))
    assert response.status_code == 403
    assert "beperkt" in client.get("/avg/me").get_data(as_text=True)
    assert reqs.lift(state, a.member.id, "restriction", actor="bestuur") == 1
    db.session.commit()
    assert _member_ids(avg.not_restricted()) == everyone
    assert not reqs.is_restricted(state, a.member.id)


def test_board_lifts_a_granted_objection_and_the_member_is_told(app, events, mails):
    app.config["AVG_OBJECTION_PURPOSES"] = ({"nl": "Fotoboek", "en": "Photo book"},)
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    file(logged_in(app.test_client(), a), "objection", purpose="Photo book")
    req = requests_in_db()[0]
    board = logged_in(app.test_client(), boss)
    board_action(board, req.id, "completed")
    assert _member_ids(avg.not_objected("Photo book")) == {boss.member.id}
    url = f"/avg/requests/{req.id}"
    page = board.get(url).get_data(as_text=True)
    assert "Dit lid maakt bezwaar tegen: Fotoboek" in page
    token = csrf_token(board, url)
    assert board.post(url + "/lift", data={"csrf_token": token}).status_code == 302
    assert _member_ids(avg.not_objected("Photo book")) == {a.member.id, boss.member.id}
    assert events[-1] == ("lifted", req.id)
    assert [m.to for m in mails if m.event == "lifted"] == ["member", "board"]
    assert [e.action for e in audit("objection.lifted")] == ["objection.lifted"]
    assert "Opheffen" not in board.get(url).get_data(as_text=True)


def test_completed_objection_excludes_from_that_purpose_only(app):
    app.config["AVG_OBJECTION_PURPOSES"] = ("newsletter", {"nl": "Fotoboek", "en": "Photo book"})
    a = member_with_login(1)
    b = member_with_login(2)
    boss = make_board(member_with_login(3))
    client = logged_in(app.test_client(), a)
    file(client, "objection", purpose="Photo book")
    req = requests_in_db()[0]
    board = logged_in(app.test_client(), boss)
    board_action(board, req.id, "completed")
    everyone = {a.member.id, b.member.id, boss.member.id}
    assert _member_ids(avg.not_objected("Photo book")) == everyone - {a.member.id}
    assert _member_ids(avg.not_objected("newsletter")) == everyone
    assert _member_ids(avg.not_restricted()) == everyone
    both = _member_ids(avg.not_objected("Photo book"), avg.not_restricted())
    assert both == everyone - {a.member.id}
    assert reqs.objections(get_state(), a.member.id) == ["Photo book"]
    page = logged_in(app.test_client(), a).get("/avg/me").get_data(as_text=True)
    assert "Je hebt bezwaar gemaakt tegen: Fotoboek" in page


def test_extra_objection_purposes_from_config(app):
    app.config["AVG_OBJECTION_PURPOSES"] = ("newsletter", {"nl": "Fotoboek", "en": "Photo book"})
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    page = client.get("/avg/me/requests").get_data(as_text=True)
    assert '<option value="Photo book">Fotoboek</option>' in page
    client.get("/avg/lang/en")
    page = client.get("/avg/me/requests").get_data(as_text=True)
    assert '<option value="Photo book">Photo book</option>' in page
    assert file(client, "objection", purpose="newsletter").status_code == 302
    assert [r.purpose for r in requests_in_db()] == ["newsletter"]


def test_purpose_keys_do_not_change_with_the_language(app):
    from flask import session

    from flask_avg.core.i18n import lazy_gettext

    two = {"nl": "Berichten tussen leden", "en": "Messages between members"}
    lazy = lazy_gettext("Messages between members")
    assert reqs.purpose_key(two) == "Messages between members"
    assert reqs.purpose_key("Team composition") == "Team composition"
    assert reqs.purpose_key(lazy) == "Messages between members"
    assert reqs.purpose_key({"nl": "Alleen Nederlands"}) == "Alleen Nederlands"
    # each request its own app context, so the locale is not cached across them
    with app.app_context(), app.test_request_context("/"):
        assert reqs.host_text(two) == "Berichten tussen leden"
    with app.app_context(), app.test_request_context("/"):
        session["avg_locale"] = "en"
        assert reqs.host_text(two) == "Messages between members"
    assert reqs.host_text("plain") == "plain"
    keys = reqs.objection_purposes(get_state())
    for model in get_state().registry:
        for spec in model.columns.values():
            if spec.purpose:
                objectable = spec.basis in ("public_task", "legitimate_interest")
                assert (reqs.purpose_key(spec.purpose) in keys) == objectable


# -- erasure, with a stand-in for the erasure engine -------------------------------------------


@dataclass
class Item:
    model: str
    count: int
    reason: str | None = None


@dataclass
class FakeResult:
    removed: list[Item] = field(default_factory=list)
    anonymised: list[Item] = field(default_factory=list)
    retained: list[Item] = field(default_factory=list)


@pytest.fixture
def fake_engine(monkeypatch):
    calls: list[tuple] = []

    def erase_subject(subject_id, *, actor, reason, farewell=True):
        from flask import current_app

        from flask_avg.core.signals import subject_erased

        calls.append((subject_id, actor, reason))
        result = FakeResult(
            removed=[Item("SignUp", 1, None), Item("Account", 1, None)],
            anonymised=[Item("Member", 1, "Art. 17(3)(b)")],
            retained=[Item("Invoices", 2, "Tax law: keep 7 years (AWR art. 52)")],
        )
        # the engine's contract: a finished erasure is signalled
        subject_erased.send(current_app._get_current_object(), subject_id=subject_id, result=result)
        return result

    # the kernel erases through the lifecycle the retention plugin provides
    monkeypatch.setattr(get_state().lifecycle, "erase_subject", erase_subject)
    return calls


def test_completing_an_erasure_runs_the_engine_and_keeps_a_summary(app, fake_engine, events, mails):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    client = logged_in(app.test_client(), a)
    file(client, "erasure", password=PASSWORD, message="Ik ga verhuizen")
    req = requests_in_db()[0]
    assert req.message == "Ik ga verhuizen"
    board = logged_in(app.test_client(), boss)
    # never one click: "complete" leads to the preview, which asks for confirmation
    response = board_action(board, req.id, "completed")
    assert response.status_code == 302 and response.location.endswith(f"/{req.id}/erase")
    assert fake_engine == [] and requests_in_db()[0].status == "received"
    preview = board.get(f"/avg/requests/{req.id}/erase").get_data(as_text=True)
    assert "avg-erase-preview" in preview and "data-avg-confirm=" in preview
    assert "avg-btn avg-btn--danger" in preview
    assert fake_engine == []
    assert confirm_erasure(board, req.id).status_code == 302
    assert fake_engine == [(a.member.id, str(boss.user.id), "request")]
    done = requests_in_db()[0]
    assert done.status == "completed"
    # (the member's own words go with the real erasure: test_requests_erasure.py)
    assert done.result == {
        "removed": [
            {"model": "SignUp", "count": 1, "reason": None},
            {"model": "Account", "count": 1, "reason": None},
        ],
        "anonymised": [{"model": "Member", "count": 1, "reason": "Art. 17(3)(b)"}],
        "retained": [
            {"model": "Invoices", "count": 2, "reason": "Tax law: keep 7 years (AWR art. 52)"}
        ],
    }
    entry = audit("request.completed")[0]
    assert details([entry])[0]["result"] == {"removed": 2, "anonymised": 1, "retained": 2}
    detail = board.get(f"/avg/requests/{req.id}").get_data(as_text=True)
    assert 'data-part="retained"' in detail and "AWR art. 52" in detail
    page = logged_in(app.test_client(), a).get("/avg/me/requests").get_data(as_text=True)
    assert "Bewaard" in page and "AWR art. 52" in page and "Geanonimiseerd" in page
    assert events[-1] == ("completed", req.id)
    done_mail = [m for m in mails if m.event == "completed" and m.to == "member"][0]
    assert "Bewaard: Invoices (2) - Tax law: keep 7 years (AWR art. 52)" in done_mail.body
    assert "Verwijderd: SignUp (1)" in done_mail.body
    # a snapshot taken before the engine ran: the account may be gone by now
    assert done_mail.user.email == "m1@example.org"
    assert not hasattr(done_mail.user, "_sa_instance_state")


def test_failing_engine_leaves_the_request_open(app, monkeypatch):
    def erase_subject(subject_id, *, actor, reason, farewell=True):
        raise RuntimeError("disk full")

    monkeypatch.setattr(get_state().lifecycle, "erase_subject", erase_subject)
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    file(logged_in(app.test_client(), a), "erasure", password=PASSWORD)
    req = requests_in_db()[0]
    board = logged_in(app.test_client(), boss)
    app.logger.disabled = True  # the traceback is expected here
    try:
        response = confirm_erasure(board, req.id)
    finally:
        app.logger.disabled = False
    assert "kon niet worden afgehandeld" in response.get_data(as_text=True)
    assert requests_in_db()[0].status == "received"
    assert audit("request.completed") == []


def test_cli_lists_requests_and_fails_when_one_is_overdue(app):
    state = get_state()
    with time_machine.travel(T0, tick=False):
        reqs.file_request(state, 11, "restriction", user_id="1")
        reqs.file_request(state, 12, "erasure", user_id="2")
    runner = app.test_cli_runner()
    with time_machine.travel(T0 + timedelta(days=29), tick=False):
        result = runner.invoke(args=["avg", "requests"])
    assert result.exit_code == 0, result.output
    assert "2 open, 0 overdue" in result.output
    assert "subject 11" in result.output and "deadline 2026-04-01" in result.output
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        result = runner.invoke(args=["avg", "requests", "--overdue"])
    assert result.exit_code == 1
    assert result.output.count("OVERDUE") == 2
    assert "2 open, 2 overdue" in result.output


def test_lift_without_csrf_token_is_refused(app):
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    file(logged_in(app.test_client(), a), "restriction")
    req = requests_in_db()[0]
    board = logged_in(app.test_client(), boss)
    board_action(board, req.id, "completed")
    assert board.post(f"/avg/requests/{req.id}/lift").status_code == 400
    assert reqs.is_restricted(get_state(), a.member.id)
    assert board.post("/avg/requests/999999/lift").status_code == 404
    assert board.get("/avg/requests/999999").status_code == 404
