"""Writes for a person and their erasure take turns: nothing lands on an erased person.

First each write path on its own, erased at the worst moment (between the
page loading the member and its write, or just after its commit); then a race
on the leg's database: threads with app contexts of their own, where every
member corrects their data, gives and withdraws consent and files requests
through the real pages, the board moves requests along, and another board
member erases the members one by one. Nothing may fail with a server error,
and afterwards no member's write may be found on an erased row, in a consent
or an open request of an erased member, or in an audit entry after the erasure.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from example_app import avg
from example_app.models import Member, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.subjects import SubjectErased, lock_subject
from flask_avg.extension import get_state
from flask_avg.features.consent.models import ConsentRecord, ConsentState
from flask_avg.features.requests import service as reqs
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.service import erase_subject
from tests.support.app import csrf_token
from tests.support.factories import Built
from tests.support.self_service import audit, logged_in, make_board, member_with_login

ERASED_NL = "De gegevens van deze persoon zijn gewist"
OWN_ERASED_NL = "Je gegevens zijn gewist"


def _erase_elsewhere(app: Flask, member_id: int) -> None:
    """The board erases ``member_id`` meanwhile: in another thread, app context and
    database connection, committed before this returns."""
    failed: list[BaseException] = []

    def board() -> None:
        try:
            with app.app_context():
                erase_subject(get_state(), member_id, actor="board")
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failed.append(exc)

    thread = threading.Thread(target=board)
    thread.start()
    thread.join(timeout=60)
    assert not failed, failed


@pytest.fixture
def erased_in_flight(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[Built], None]:
    """Arm: the member's next page loads them, then the board erases them before
    the page writes anything."""
    state = get_state()
    loaded = state.subject_for

    def arm(built: Built) -> None:
        member_id = built.member.id
        armed = [True]

        def subject_for(user: Any) -> Any:
            subject = loaded(user)
            page = sys._getframe(1).f_globals["__name__"].endswith(".views")  # not the ACL's
            if armed and page and subject is not None:
                armed.clear()
                _erase_elsewhere(app, member_id)
            return subject

        monkeypatch.setattr(state, "subject_for", subject_for)

    return arm


def _count(model: Any, *where: Any) -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _posts(client: Any, built: Built) -> dict[str, tuple[str, dict[str, str]]]:
    token = csrf_token(client, "/avg/me/edit")
    member = built.member
    edit = {
        "csrf_token": token,
        "subject": str(member.id),
        "f_email": member.email,
        "f_phone": "06-11112222",
        "f_street": "Nieuwe straat 9",
        "f_postcode": member.postcode or "",
        "f_city": "Amersfoort",
    }
    return {
        "edit": ("/avg/me/edit", edit),
        "consent": ("/avg/consent/newsletter", {"csrf_token": token, "choice": "give"}),
        "request": ("/avg/me/requests", {"csrf_token": token, "kind": "restriction"}),
    }


@pytest.mark.parametrize("page", ["edit", "consent", "request"])
def test_member_erased_while_their_write_is_in_flight_gets_a_clear_page(
    app, erased_in_flight, page
):
    a = member_with_login(1)
    member_id, key = a.member.id, str(a.member.id)
    client = logged_in(app.test_client(), a)
    url, data = _posts(client, a)[page]
    erased_in_flight(a)
    response = client.post(url, data=data)
    assert response.status_code == 410
    assert OWN_ERASED_NL in response.get_data(as_text=True)
    # nothing was written: the member stays anonymised, nothing of theirs after the erasure
    member = db.session.get(Member, member_id)
    assert (member.first_name, member.phone, member.city) == ("anon", None, None)
    assert _count(ConsentRecord, ConsentRecord.subject == key) == 0
    assert reqs.requests_of(get_state(), key) == []
    actions = [e.action for e in audit() if e.subject == key]
    assert actions[-1] == "subject.erased" and "self.edit" not in actions
    # and they were logged out
    assert client.get("/avg/me").status_code == 302


def test_member_erased_while_their_write_is_in_flight_english(app, erased_in_flight):
    a = member_with_login(1)
    client = logged_in(app.test_client(), a)
    client.get("/avg/lang/en")
    url, data = _posts(client, a)["edit"]
    erased_in_flight(a)
    response = client.post(url, data=data)
    assert response.status_code == 410
    assert "Your data has been erased" in response.get_data(as_text=True)


def test_correction_committed_just_before_the_erasure_is_erased_and_answered(app):
    """The issue's case: the erasure lands right after the correction's commit,
    before the page has finished; the actor was looked up afterwards, on a login
    account that no longer existed (a server error)."""
    a = member_with_login(1)
    member_id, user_id = a.member.id, str(a.user.id)
    client = logged_in(app.test_client(), a)
    url, data = _posts(client, a)["edit"]
    request_thread = threading.get_ident()
    armed = [True]

    def after_commit(session: Session) -> None:
        if armed and threading.get_ident() == request_thread and session.info.get("edit"):
            armed.clear()
            _erase_elsewhere(app, member_id)

    def before_flush(session: Session, *_: Any) -> None:
        if any(isinstance(o, Member) for o in session.dirty):
            session.info["edit"] = True

    event.listen(Session, "before_flush", before_flush)
    event.listen(Session, "after_commit", after_commit)
    try:
        response = client.post(url, data=data)
    finally:
        event.remove(Session, "after_commit", after_commit)
        event.remove(Session, "before_flush", before_flush)
    assert not armed, "the correction never committed"
    assert response.status_code == 302
    member = db.session.get(Member, member_id)
    assert (member.first_name, member.phone, member.city) == ("anon", None, None)
    edit, erased = audit("self.edit"), audit("subject.erased")
    assert [e.actor for e in edit] == [user_id]
    assert edit[0].id < erased[0].id and edit[0].at <= erased[0].at


def test_python_api_refuses_writes_for_an_erased_member(app):
    state = get_state()
    a, b = member_with_login(1), member_with_login(2)
    member_id, key = a.member.id, str(a.member.id)
    req = reqs.file_request(state, member_id, "restriction", user_id="1")
    erase_subject(state, member_id, actor="board")
    with pytest.raises(SubjectErased) as caught:
        avg.record_consent(member_id, "newsletter", given=True)
    assert isinstance(caught.value, LookupError) and caught.value.key == member_id
    db.session.rollback()
    with pytest.raises(SubjectErased):
        reqs.file_request(state, member_id, "objection", user_id="1", purpose="newsletter")
    db.session.rollback()
    req = db.session.get(reqs.DataRequest, req.id)
    assert req.status == "closed"  # closed by the erasure
    with pytest.raises(SubjectErased):
        reqs.change_status(state, req, "in_progress", actor="board")
    db.session.rollback()
    assert _count(ConsentRecord, ConsentRecord.subject == key) == 0
    assert [r.status for r in reqs.requests_of(state, key)] == ["closed"]
    # another member, and a key no member ever had, are not refused
    avg.record_consent(b.member.id, "newsletter", given=True)
    reqs.file_request(state, 999, "restriction", user_id="9")
    assert avg.has_consent(b.member.id, "newsletter")
    # the erasure itself may run again (a later purge, a replay)
    assert lock_subject(state, member_id, allow_erased=True) is True
    db.session.rollback()


def test_board_is_told_when_the_member_was_erased_meanwhile(app):
    state = get_state()
    a = member_with_login(1)
    boss = make_board(member_with_login(2))
    member_id = a.member.id
    req = reqs.file_request(state, member_id, "restriction", user_id=str(a.user.id))
    request_id = req.id
    board = logged_in(app.test_client(), boss)
    detail = f"/avg/requests/{request_id}"
    token = csrf_token(board, detail)
    erase_subject(state, member_id, actor="board")
    response = board.post(detail, data={"csrf_token": token, "status": "in_progress"})
    assert response.status_code == 410
    assert ERASED_NL in response.get_data(as_text=True)
    assert db.session.get(reqs.DataRequest, request_id).status == "closed"
    paper = f"/avg/consent/members/{member_id}"
    response = board.post(
        paper, data={"csrf_token": token, "purpose": "newsletter", "choice": "give"}
    )
    assert response.status_code == 410
    assert ERASED_NL in response.get_data(as_text=True)
    assert _count(ConsentRecord, ConsentRecord.subject == str(member_id)) == 0


# -- the race ---------------------------------------------------------------------------

MEMBERS = 8
#: rounds each member keeps writing once the board has erased them
AFTER = 3
#: a bound on the rounds of one member, in case their erasure never comes
MAX_ROUNDS = 150
#: what a page may answer while its member is erased under it (never a 500)
ANSWERS = {200, 302, 400, 403, 404, 410}
#: audit actions of the writes racing the erasure (``request.closed`` follows it)
WRITES = {
    "self.edit",
    "consent.give",
    "consent.withdraw",
    "request.received",
    "request.in_progress",
    "request.rejected",
}


class Run:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.errors: list[str] = []
        self.statuses: dict[str, set[int]] = {}
        self.written: set[str] = set()
        self.erased: dict[int, threading.Event] = {}
        self.started = threading.Barrier(MEMBERS + 1, timeout=60)
        self.done = threading.Event()
        self.lock = threading.Lock()

    def thread(self, name: str, body: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                with self.app.app_context():
                    body()
            except BaseException:  # noqa: BLE001 - every failure is reported by the test
                with self.lock:
                    self.errors.append(f"{name}: {traceback.format_exc()}")
                if self.started.n_waiting:
                    self.started.abort()

        return threading.Thread(target=run, name=name, daemon=True)

    def answered(self, what: str, status: int) -> None:
        with self.lock:
            self.statuses.setdefault(what, set()).add(status)
            if status not in ANSWERS:
                self.errors.append(f"{what} answered {status}")


def _member(run: Run, client: Any, n: int, member_id: int, email: str, token: str) -> None:
    rounds = after = 0
    first = True
    while rounds < MAX_ROUNDS and after < AFTER:
        if run.erased[member_id].is_set():
            after += 1
        phone, city = f"06-{n:02d}{rounds:06d}", f"Stad{n}x{rounds}"
        street = f"Straat {n}-{rounds}"
        with run.lock:
            run.written.update({phone, city, street})
        form = {
            "csrf_token": token,
            "subject": str(member_id),
            "f_email": email,
            "f_phone": phone,
            "f_street": street,
            "f_postcode": "1234 AB",
            "f_city": city,
        }
        run.answered("edit", client.post("/avg/me/edit", data=form).status_code)
        choice = "give" if rounds % 2 == 0 else "withdraw"
        consent = {"csrf_token": token, "choice": choice}
        run.answered("consent", client.post("/avg/consent/newsletter", data=consent).status_code)
        filing = {"csrf_token": token, "kind": "restriction", "message": f"Stop {n}-{rounds}"}
        run.answered("request", client.post("/avg/me/requests", data=filing).status_code)
        rounds += 1
        if first:
            first = False
            run.started.wait()


def _board_handles_requests(run: Run) -> None:
    """Moves every open request along: received -> in progress -> rejected."""
    state = run.app.extensions["avg"]
    while not run.done.is_set():
        db.session.rollback()
        for req in reqs.queue(state):
            target = "in_progress" if req.status == "received" else "rejected"
            try:
                reqs.change_status(state, req, target, actor="board", reason="Niet nodig")
            except (reqs.RequestError, SubjectErased):
                db.session.rollback()


def _board_erases(run: Run, ids: list[int]) -> None:
    state = run.app.extensions["avg"]
    run.started.wait()
    for member_id in ids:
        state.erase_subject(member_id, actor="board", reason="board")
        run.erased[member_id].set()


def _purge_erases(run: Run, ids: list[int]) -> None:
    """The nightly purge instead: every member's retention ended, two per batch."""
    run.started.wait()
    run.app.extensions["avg"].purge(actor="cron")
    for member_id in ids:
        run.erased[member_id].set()


@pytest.mark.parametrize("erasure", ["board", "purge"])
def test_writes_racing_an_erasure_never_land_on_the_erased(app, db_url, erasure):
    members = [member_with_login(n) for n in range(1, MEMBERS + 1)]
    ids = [b.member.id for b in members]
    if erasure == "purge":
        for built in members:
            built.member.end_date = date(2010, 1, 1)
        get_state().settings.set("retention.members.days", 365)
        db.session.commit()
        app.config["AVG_PURGE_BATCH_SIZE"] = 2
    run = Run(app)
    threads = []
    for n, built in enumerate(members, start=1):
        client = logged_in(app.test_client(), built)
        token = csrf_token(client, "/avg/me/edit")
        member_id, email = built.member.id, built.member.email  # plain values for the thread
        run.erased[member_id] = threading.Event()
        threads.append(
            run.thread(
                f"member-{n}",
                lambda c=client, n=n, i=member_id, e=email, t=token: _member(run, c, n, i, e, t),
            )
        )
    board = [
        run.thread(
            "board-erases", lambda: (_board_erases, _purge_erases)[erasure == "purge"](run, ids)
        ),
        run.thread("board-requests", lambda: _board_handles_requests(run)),
    ]
    db.session.rollback()
    for thread in threads + board:
        thread.start()
    for thread in [*threads, board[0]]:
        thread.join(timeout=120)
    run.done.set()
    board[1].join(timeout=60)
    assert not [t.name for t in threads + board if t.is_alive()], "a thread hangs"
    assert not run.errors, "\n".join(run.errors)
    assert 302 in run.statuses["edit"], run.statuses  # corrections were saved

    db.session.rollback()
    erased_at = {
        int(e.key): e
        for e in db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.model == "Member").order_by(LedgerEntry.id)
        )
    }
    assert set(erased_at) == set(ids)
    erasure_audit = {  # the board's erasures; a purge writes one entry at its end
        int(e.subject): e.id
        for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
    }
    purge_audit = db.session.scalar(
        select(func.max(AuditEntry.id)).where(AuditEntry.action == "retention.purge")
    )
    for member_id in ids:
        member = db.session.get(Member, member_id)
        assert member is not None
        personal = {member.phone, member.city, member.street, member.email, member.first_name}
        assert not personal & run.written, (member_id, personal)
        assert (member.first_name, member.phone, member.city) == ("anon", None, None)
        key = str(member_id)
        last = erasure_audit.get(member_id, purge_audit)
        # nothing a member wrote is dated, or numbered, after their erasure
        for entry in db.session.scalars(select(AuditEntry).where(AuditEntry.subject == key)):
            if entry.action in WRITES:
                assert entry.id < last, (entry.action, entry.id, last)
                assert entry.at <= erased_at[member_id].at, (entry.action, entry.at)
        # no current answer and no open request is left; the answers kept as proof
        # (without their IP address) all came before the erasure
        assert _count(ConsentState, ConsentState.subject == key) == 0
        for rec in db.session.scalars(select(ConsentRecord).where(ConsentRecord.subject == key)):
            assert rec.at <= erased_at[member_id].at and rec.ip is None, (member_id, rec.at)
        assert [r.id for r in reqs.requests_of(get_state(), key) if r.is_open] == []
