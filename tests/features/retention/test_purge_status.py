"""Purge runs on the retention page: last and next run, the warning, "purge now" with
its progress, the first visit's confirmation, and honest hold texts."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from example_app.demo import seed
from example_app.models import Invoice, Member, db
from flask_avg.core.config import ConfigurationError
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.retention.engine import BatchSizer
from flask_avg.features.retention.lock import Lock
from flask_avg.features.retention.models import PurgeRun
from flask_avg.features.retention.runs import next_run, schedule_times
from flask_avg.features.retention.service import (
    get_run,
    is_confirmed,
    purge,
    purge_status,
    start_purge,
)
from tests.support.app import csrf_token, login

TODAY = date(2026, 11, 22)


def _board(client, n: int = 30) -> None:  # noqa: ANN001
    seed(n_members=n, today=TODAY)
    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    login(client, "bestuur@example.org")


def _runs() -> list[PurgeRun]:
    db.session.expire_all()
    return list(db.session.scalars(select(PurgeRun).order_by(PurgeRun.id)))


def test_no_purge_yet_warns_and_names_the_next_run(app, client):
    _board(client)
    html = client.get("/avg/retention").get_data(as_text=True)
    assert "data-purge-warning" in html
    assert "Er is nog geen opschoning gedraaid" in html
    assert "data-purge-next" in html
    status = purge_status(get_state())
    assert status.last is None and status.warning
    assert status.next_run > datetime.now(UTC)


def test_the_command_records_a_scheduled_run_shown_on_the_page(app, client):
    _board(client)
    runner = app.test_cli_runner()
    done = runner.invoke(args=["avg", "purge"])
    assert done.exit_code == 0, done.output
    (run,) = _runs()
    assert run.trigger == "scheduled" and run.actor is None and run.status == "done"
    assert run.finished_at is not None and run.batches >= 1
    counts = json.loads(run.counts_json)["categories"]
    anonymised = int(re.search(r"members: \d+ deleted, (\d+) anonymised", done.output).group(1))
    assert counts["members"]["anonymised"] == anonymised > 0
    html = client.get("/avg/retention").get_data(as_text=True)
    assert "data-purge-warning" not in html
    assert "gepland (cron)" in html
    assert f"{anonymised} geanonimiseerd" in html
    status = purge_status(get_state())
    assert status.last is not None and status.last.id == run.id and not status.warning
    # two days later without a purge: the warning is back
    later = datetime.now(UTC) + timedelta(days=2, hours=1)
    from flask_avg.features.retention.runs import status as run_status

    assert run_status(get_state(), now=later).warning


def test_a_dry_run_leaves_no_run_and_a_failed_run_says_so(app):
    seed(n_members=5, today=TODAY)
    db.session.commit()
    purge(get_state(), TODAY, dry_run=True)
    assert _runs() == []
    from flask_avg.features.retention import engine

    def boom() -> None:
        raise RuntimeError("disk full")

    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    app.config["AVG_PURGE_BATCH_SIZE"] = 1
    app.config["AVG_PURGE_BATCH_SECONDS"] = 0
    engine.batch_hook = boom
    try:
        with pytest.raises(RuntimeError):
            purge(get_state(), TODAY)
    finally:
        engine.batch_hook = None
    (run,) = _runs()
    assert run.status == "failed" and run.error == "RuntimeError: disk full"
    assert run.done_rows >= 1  # the first batch was committed, with its progress
    assert purge_status(get_state()).warning


def test_purge_now_runs_in_the_background_with_progress_and_result(app, client):
    _board(client)
    assert client.post("/avg/retention/purge").status_code == 400  # no CSRF
    token = csrf_token(client, "/avg/retention")
    page = client.get("/avg/retention").get_data(as_text=True)
    assert "data-avg-confirm" in page and "avg-btn--danger" in page
    from flask_avg.features.retention import service

    started = []
    real = service.start_purge

    def keep(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        run_id, thread = real(*args, **kwargs)
        started.append(thread)
        return run_id, thread

    service_view = __import__("flask_avg.features.retention.views", fromlist=["start_purge"])
    service_view.start_purge = keep
    try:
        response = client.post("/avg/retention/purge", data={"csrf_token": token})
    finally:
        service_view.start_purge = real
    assert response.status_code == 302
    run_url = response.headers["Location"]
    run_id = int(re.search(r"/runs/(\d+)", run_url).group(1))
    started[0].join(timeout=60)
    assert not started[0].is_alive()
    status = client.get(f"/avg/retention/runs/{run_id}.json")
    assert status.headers["Cache-Control"] == "no-store"
    body = status.get_json()
    assert body["status"] == "done" and body["percent"] == 100 and body["anonymised"] > 0
    html = client.get(run_url).get_data(as_text=True)
    assert 'data-status="done"' in html and 'http-equiv="refresh"' not in html
    (run,) = _runs()
    assert run.trigger == "board" and run.actor is not None
    assert "bestuur@example.org" in html  # by name, not by number
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"retention.purge_started", "retention.purge"} <= actions
    assert client.get("/avg/retention/runs/999999").status_code == 404
    assert client.get("/avg/retention/runs/999999.json").status_code == 404


def test_purge_now_needs_the_right(app, client):
    seed(n_members=5, today=TODAY)
    db.session.commit()
    login(client, "lid@example.org")
    assert client.post("/avg/retention/purge", data={}).status_code in (400, 403)
    assert client.get("/avg/retention/runs/1.json").status_code == 403
    assert _runs() == []


def test_purge_now_while_cron_holds_the_lock_is_skipped(app):
    seed(n_members=5, today=TODAY)
    db.session.commit()
    state = get_state()
    with app.test_request_context(), Lock(state):
        run_id, thread = start_purge(state, actor=None)
        thread.join(timeout=60)
    db.session.rollback()  # a new transaction sees the thread's commit (MariaDB's snapshot)
    found = get_run(state, run_id)
    assert found is not None and found.status == "skipped"
    # a running run is never started twice
    queued = PurgeRun(
        trigger="scheduled", status="running", as_of=TODAY, done_rows=0, total_rows=10, batches=0
    )
    db.session.add(queued)
    db.session.commit()
    with app.test_request_context():
        again, none = start_purge(state, actor=None)
    assert again == queued.id and none is None
    assert purge_status(state).running.percent == 0


def test_first_visit_asks_to_confirm_the_periods_with_the_advice(app, client):
    _board(client)
    state = get_state()
    state.settings.set("retention.members.days", None)
    db.session.commit()
    page = client.get("/avg/retention").get_data(as_text=True)
    assert "data-first-visit" in page
    assert "Advies: 365 tot 730 dagen" in page and "Standaard bij installatie: 3650 dagen" in page
    form = {"csrf_token": csrf_token(client, "/avg/retention"), "action": "confirm"}
    form |= {"days_members": "730", "days_invoices": "2557", "days_signups": "365"}
    form |= {"days_accounts": "730"}
    assert client.post("/avg/retention", data=form).status_code == 302
    db.session.expire_all()
    from flask import g

    g.pop("_avg_settings", None)
    assert is_confirmed(state)
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention.confirmed")
    ).one()
    assert entry.detail["days"]["members"] == 730
    page = client.get("/avg/retention").get_data(as_text=True)
    assert "data-first-visit" not in page


def test_the_page_names_each_models_own_anchor_and_the_law_apart_from_the_club(app, client):
    _board(client)
    html = client.get("/avg/retention").get_data(as_text=True)
    members = re.search(r'<tr data-category="members">(.*?)</tr>', html, re.S).group(1)
    assert "Berichten: verzonden" in members and "Lid: einde lidmaatschap" in members
    invoices = re.search(r'<tr data-category="invoices">(.*?)</tr>', html, re.S).group(1)
    assert "De wet: minstens 7 jaar" in invoices
    assert "Eigen keuze" in invoices  # 3650 days is the club's, not the law's


def test_erase_preview_says_what_the_law_keeps_and_what_the_club_chose(app, client):
    _board(client)
    member = db.session.scalars(
        select(Member).where(Member.email.not_like("%example.org")).order_by(Member.id)
    ).first()
    db.session.add(
        Invoice(
            member_id=member.id,
            number="F-TEST-1",
            invoice_date=date.today() - timedelta(days=30),
            description="contributie",
            amount=10,
        )
    )
    db.session.commit()
    html = client.get(f"/avg/members/{member.id}/erase").get_data(as_text=True)
    law_year = (date.today() - timedelta(days=30)).year + 7
    club_year = (date.today() - timedelta(days=30)).year + 10
    assert "De wet vereist bewaren tot" in html and str(law_year) in html
    assert "eigen keuze, niet door de wet" in html and str(club_year) in html
    # the board shortens its own period to the legal minimum: only the law remains
    get_state().settings.set("retention.invoices.days", 2557)
    db.session.commit()
    html = client.get(f"/avg/members/{member.id}/erase").get_data(as_text=True)
    assert "De wet vereist bewaren tot" in html and "niet door de wet" not in html


def test_member_page_says_next_purge_instead_of_a_past_date(app, client):
    seed(n_members=5, today=TODAY)
    db.session.commit()
    member = db.session.scalars(select(Member).where(Member.email == "lid@example.org")).one()
    member.end_date = date.today() - timedelta(days=4000)
    db.session.commit()
    login(client, "lid@example.org")
    html = client.get("/avg/me").get_data(as_text=True)
    assert "bij de volgende opschoning" in html


def test_schedule_and_next_run():
    assert schedule_times("03:00,15:30") == [time(3, 0), time(15, 30)]
    for bad in ("25:00", "3am", "", ["03:00", "x"]):
        with pytest.raises(ConfigurationError):
            schedule_times(bad)
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    first = next_run(now, [time(3, 0)])
    assert now < first <= now + timedelta(days=1)
    assert first.astimezone().time() == time(3, 0)
    two = next_run(now, [time(3, 0), time(23, 59)])
    assert now < two < first or two.astimezone().time() == time(23, 59)


def test_a_wrong_schedule_fails_at_start_up():
    from example_app import create_app

    with pytest.raises(ConfigurationError):
        create_app({"AVG_PURGE_SCHEDULE": "every night", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_batch_sizer_follows_the_measured_time():
    sizer = BatchSizer(1000, 1.0)
    sizer.measured(1000, 0.1)  # ten times too fast: grows, at most fourfold a step
    assert sizer.size == 4000
    sizer.measured(4000, 0.5)
    assert sizer.size == 8000
    sizer.measured(8000, 4.0)  # too slow: shrinks to about a second's worth
    assert sizer.size == 2000
    sizer.measured(5, 0.001)  # a short last batch says nothing
    assert sizer.size == 2000
    fixed = BatchSizer(50, 0)
    fixed.measured(50, 10.0)
    assert fixed.size == 50
    assert BatchSizer(100, 1.0)() == 100


def test_purge_batches_are_sized_by_time(app):
    seed(n_members=60, today=TODAY)
    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    app.config["AVG_PURGE_BATCH_SIZE"] = 2
    app.config["AVG_PURGE_BATCH_SECONDS"] = 5.0
    result = purge(get_state(), TODAY)
    sizes = [rows for rows, _seconds in result.sizer.history]
    assert sizes[0] == 2 and max(sizes) > 2  # quick batches grew
    assert db.session.scalar(select(func.count()).select_from(PurgeRun)) == 1
