"""The options page, the erase button and the retention commands."""

from __future__ import annotations

import json
import re
from datetime import date

from sqlalchemy import func, select

from example_app.demo import seed
from example_app.models import Member, User, db
from flask_avg.core.models import AuditEntry
from flask_avg.core.retention_categories import SEVEN_YEARS
from flask_avg.extension import get_state
from flask_avg.features.retention.models import LedgerEntry
from tests.support.app import csrf_token, login


def _board(app, client):  # noqa: ANN001, ANN202
    seed(n_members=12, today=date(2026, 11, 22))
    db.session.commit()
    login(client, "bestuur@example.org")


def test_options_page_preview_floor_and_save(app, client):
    _board(app, client)
    page = client.get("/avg/retention")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="days_members"' in html and "3650" in html
    token = csrf_token(client, "/avg/retention")
    form = {
        "csrf_token": token,
        "days_members": "365",
        "days_invoices": "30",
        "days_signups": "730",
        "days_accounts": "730",
        "action": "save",
    }
    refused = client.post("/avg/retention", data=form)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert str(SEVEN_YEARS) in body and "fiscale bewaarplicht" in body
    assert get_state().settings.get("retention.members.days") is None  # nothing saved
    form["days_invoices"] = str(SEVEN_YEARS)
    form["action"] = "preview"
    preview = client.post("/avg/retention", data=form).get_data(as_text=True)
    assert "Member:" in preview or "Member" in preview
    assert get_state().settings.get("retention.members.days") is None
    form["action"] = "save"
    form["erase_SignUp"] = "delete"
    saved = client.post("/avg/retention", data=form)
    assert saved.status_code == 302
    db.session.expire_all()
    from flask import g

    g.pop("_avg_settings", None)
    assert get_state().settings.get("retention.members.days") == 365
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention.settings")
    ).one()
    assert entry.detail["days"]["members"] == 365


def test_options_page_needs_the_right(app, client):
    seed(n_members=5)
    login(client, "lid@example.org")
    assert client.get("/avg/retention").status_code == 403


def test_erase_button_confirm_and_csrf(app, client):
    _board(app, client)
    target = db.session.scalars(
        select(Member).where(Member.email.not_like("%example.org")).order_by(Member.id)
    ).first()
    member_id = target.id
    page = client.get(f"/avg/members/{member_id}").get_data(as_text=True)
    assert f"/avg/members/{member_id}/erase" in page
    confirm = client.get(f"/avg/members/{member_id}/erase").get_data(as_text=True)
    assert re.search(r'name="csrf_token"', confirm)
    assert client.post(f"/avg/members/{member_id}/erase").status_code == 400  # no CSRF
    token = csrf_token(client, f"/avg/members/{member_id}/erase")
    done = client.post(f"/avg/members/{member_id}/erase", data={"csrf_token": token})
    assert done.status_code == 200
    db.session.expire_all()
    assert db.session.get(Member, member_id).first_name == "anon"
    assert db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.key == str(member_id))
    )


def test_cli_purge_dry_run_and_ledger_roundtrip(app, tmp_path):
    seed(n_members=30, today=date(2026, 11, 22))
    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["avg", "purge", "--dry-run", "--as-of", "2026-11-22"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "members:" in dry.output
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    real = runner.invoke(args=["avg", "purge", "--as-of", "2026-11-22"])
    assert real.exit_code == 0, real.output
    anonymised = int(re.search(r"members: \d+ deleted, (\d+) anonymised", real.output).group(1))
    assert anonymised > 0
    again = runner.invoke(args=["avg", "purge", "--as-of", "2026-11-22"])
    assert "members: " not in again.output or "0 anonymised" in again.output
    out = tmp_path / "ledger.jsonl"
    exported = runner.invoke(args=["avg", "export-ledger", "-o", str(out)])
    assert exported.exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sum(1 for e in lines if e["model"] == "Member") == anonymised
    assert all(set(e) == {"model", "key", "action", "reason", "at"} for e in lines)
    replay = runner.invoke(args=["avg", "replay-erasures", str(out)])
    assert replay.exit_code == 0 and "replayed" in replay.output
    assert db.session.scalar(select(func.count()).select_from(User)) > 0


def test_cli_purge_failure_exits_non_zero(app):
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["avg", "purge", "--as-of", "not-a-date"])
    assert bad.exit_code != 0


def test_dashboard_panel_counts_next_purge(app):
    from flask import render_template

    seed(n_members=30, today=date(2026, 11, 22))
    get_state().settings.set("retention.members.days", 365)
    db.session.commit()
    panel = next(p for p in get_state().dashboard if p.key == "retention")
    context = panel.context(get_state())
    assert any(n > 0 for _label, n in context["rows"])
    with app.test_request_context():
        html = render_template(panel.template, **context)
    assert "<li>" in html


def test_stale_accounts_are_off_by_default_and_spare_board_accounts(app):
    from datetime import datetime

    from tests.support.factories import full_member

    gone = full_member(1)
    gone.member.end_date = date(2020, 1, 1)
    gone.user.last_login = datetime(2020, 1, 1)
    current = full_member(2)
    current.user.last_login = datetime(2020, 1, 1)
    from flask_avg.features.acl.models import Group, GroupMember

    board = User(
        email="penningmeester@example.org", password_hash="x", last_login=datetime(2020, 1, 1)
    )
    db.session.add(board)
    db.session.flush()
    group = db.session.scalars(select(Group).where(Group.key == "board")).one()
    db.session.add(GroupMember(user_id=str(board.id), group_id=group.id))
    db.session.commit()
    gone_user, current_user, board_user = gone.user.id, current.user.id, board.id
    from flask_avg.features.retention.service import purge

    assert purge(get_state(), date(2026, 1, 1)).stale_accounts == 0
    app.config["AVG_STALE_ACCOUNT_DAYS"] = 365
    result = purge(get_state(), date(2026, 1, 1))
    assert result.stale_accounts == 1
    db.session.expire_all()
    assert db.session.get(User, gone_user) is None
    assert db.session.get(User, current_user) is not None
    assert db.session.get(User, board_user) is not None


def test_cli_purge_exits_75_while_another_purge_holds_the_lock(app):
    from flask_avg.features.retention.lock import Lock

    runner = app.test_cli_runner()
    with Lock(get_state()):
        busy = runner.invoke(args=["avg", "purge", "--wait", "0"])
    assert busy.exit_code == 75
    assert "another purge is running" in busy.output
    free = runner.invoke(args=["avg", "purge", "--wait", "0"])
    assert free.exit_code == 0, free.output


def test_erase_button_while_a_purge_runs_changes_nothing_and_says_so(app, client):
    from flask_avg.features.retention.lock import Lock

    _board(app, client)
    target = db.session.scalars(
        select(Member).where(Member.email.not_like("%example.org")).order_by(Member.id)
    ).first()
    member_id, name = target.id, target.first_name
    url = f"/avg/members/{member_id}/erase"
    app.config["AVG_ERASE_LOCK_WAIT"] = 0
    token = csrf_token(client, url)
    with Lock(get_state()):
        busy = client.post(url, data={"csrf_token": token})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "60"
    page = busy.get_data(as_text=True)
    assert "Er loopt een opschoning van verlopen gegevens" in page and "Dit lid nu wissen" in page
    db.session.rollback()
    assert db.session.get(Member, member_id).first_name == name
    assert not db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.key == str(member_id))
    )
    done = client.post(url, data={"csrf_token": csrf_token(client, url)})
    assert done.status_code == 200
    db.session.expire_all()
    assert db.session.get(Member, member_id).first_name == "anon"


def test_cli_erase_exits_75_while_a_purge_holds_the_lock(app):
    from flask_avg.features.retention.lock import Lock
    from tests.support.factories import full_member

    member_id = full_member(1).member.id
    db.session.commit()
    runner = app.test_cli_runner()
    with Lock(get_state()):
        busy = runner.invoke(args=["avg", "erase", str(member_id), "--wait", "0"])
    assert busy.exit_code == 75
    assert "another purge is running" in busy.output
    db.session.rollback()
    assert db.session.get(Member, member_id).first_name == "Voornaam1"
    done = runner.invoke(args=["avg", "erase", str(member_id)])
    assert done.exit_code == 0, done.output
    assert "anonymised: Member 1" in done.output


def test_cli_replay_waits_for_a_running_purge(app, tmp_path):
    """A replay after a restore never works beside a purge that cron started."""
    from flask_avg.features.retention.lock import Lock
    from tests.support.factories import full_member

    member_id = full_member(1).member.id
    db.session.commit()
    out = tmp_path / "ledger.jsonl"
    out.write_text(
        json.dumps(
            {
                "model": "Member",
                "key": str(member_id),
                "action": "anonymised",
                "reason": "request",
                "at": "2026-11-01T10:00:00+00:00",
            }
        )
        + "\n"
    )
    runner = app.test_cli_runner()
    with Lock(get_state()):
        busy = runner.invoke(args=["avg", "replay-erasures", str(out), "--wait", "0"])
    assert busy.exit_code == 75 and "replay skipped" in busy.output
    db.session.rollback()
    assert db.session.get(Member, member_id).first_name == "Voornaam1"
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    done = runner.invoke(args=["avg", "replay-erasures", str(out)])
    assert done.exit_code == 0, done.output
    db.session.rollback()
    assert db.session.get(Member, member_id).first_name == "anon"


def test_erase_page_and_preview_count_rows_shared_with_others(app, client):
    from datetime import datetime

    from example_app.models import Message

    _board(app, client)
    members = db.session.scalars(
        select(Member).where(Member.email.not_like("%example.org")).order_by(Member.id)
    ).all()
    leaving, staying = members[0], members[1]
    leaving.end_date = date(2000, 1, 1)
    staying.end_date = None
    db.session.add(
        Message(
            sender_id=leaving.id,
            recipient_id=staying.id,
            sent_at=datetime(2026, 1, 1),
            subject_line="hallo",
        )
    )
    db.session.commit()
    leaving_id = leaving.id
    page = client.get(f"/avg/members/{leaving_id}/erase").get_data(as_text=True)
    assert "Ook van een ander" in page
    assert re.search(r"\d+ ook van een ander: worden ook voor hen verwijderd", page)
    form = {"csrf_token": csrf_token(client, "/avg/retention"), "action": "preview"}
    form |= {f"days_{k}": str(v) for k, v in _days().items()}
    preview = client.post("/avg/retention", data=form).get_data(as_text=True)
    assert "ook van leden zijn die blijven" in preview
    assert re.search(r"Berichten: \d+ ook van een ander: worden ook voor hen verwijderd", preview)


def _days() -> dict[str, int]:
    return {"members": 365, "invoices": SEVEN_YEARS, "signups": 730, "accounts": 730}
