"""The board's large member-list export as a job: its page, JSON, download and CLI.

Who may see a job: the account that started it, while it may still do what the
job does; anybody else gets a 404. Results are private, ``no-store``, audited,
expire, and go when a member they hold is erased.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.core.jobs import DONE, FAILED, Job
from flask_avg.core.models import AuditEntry
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from flask_avg.features.acl.models import Rule
from tests.support.acl import client_for, group, make_users
from tests.support.app import csrf_token
from tests.support.jobs import register


@pytest.fixture
def users(app, tmp_path):
    app.config["AVG_JOB_DIR"] = str(tmp_path / "results")
    app.config["AVG_EXPORT_JOB_ROWS"] = 2  # the test club's 4 members make a "large" list
    register(app)
    return make_users()


def _finished(job_id: str) -> Job:
    for _ in range(400):
        db.session.expire_all()
        db.session.commit()
        job = db.session.get(Job, job_id)
        if job is not None and job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def _export(client, fmt: str = "csv", q: str = "") -> str:
    token = csrf_token(client, "/avg/members/export")
    response = client.post("/avg/members/export", data={"format": fmt, "q": q, "csrf_token": token})
    assert response.status_code == 302, response.status_code
    location = response.headers["Location"]
    assert "/avg/jobs/" in location
    return location.rsplit("/", 1)[-1]


def test_a_large_list_export_becomes_a_job_with_a_progress_page(app, users):
    board = client_for(app, users["board"])
    job_id = _export(board)
    job = _finished(job_id)
    assert job.status == DONE and job.total == 4 and job.progress == 4
    page = board.get(f"/avg/jobs/{job_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="avg-progress"' in html and 'value="100"' in html
    assert f"/avg/jobs/{job_id}/download" in html
    with board.get("/avg/jobs/static/avg-jobs.js") as script:
        assert script.status_code == 200 and b"fetch(" in script.data
    assert "<script>" not in html  # CSP: no inline script
    info = board.get(f"/avg/jobs/{job_id}/status.json").get_json()
    assert info["status"] == "done" and info["percent"] == 100
    assert info["download"].endswith(f"/avg/jobs/{job_id}/download")


def test_the_owner_downloads_the_result_and_it_is_audited(app, users):
    board = client_for(app, users["board"])
    job_id = _export(board, "csv")
    _finished(job_id)
    with board.get(f"/avg/jobs/{job_id}/download") as response:
        assert response.status_code == 200
        assert "no-store" in response.headers["Cache-Control"]
        assert "attachment" in response.headers["Content-Disposition"]
        body = response.data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert len(table) == 1 + 4 and table[0][0] == "ID"
    db.session.commit()
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "export.members" in actions and "jobs.download" in actions


def test_nobody_else_sees_or_downloads_a_job(app, users):
    board = client_for(app, users["board"])
    job_id = _export(board)
    _finished(job_id)
    for level, status in (("super_user", 404), ("administrator", 404), ("member", 403)):
        other = client_for(app, users[level])
        for url in ("", "/status.json", "/download"):
            assert other.get(f"/avg/jobs/{job_id}{url}").status_code == status, (level, url)
    anonymous = client_for(app, None)
    assert anonymous.get(f"/avg/jobs/{job_id}/download").status_code in (302, 401)
    assert board.get("/avg/jobs/" + "0" * 32).status_code == 404
    assert board.get("/avg/jobs/nonsense/download").status_code == 404


def test_an_owner_who_lost_the_permission_is_refused(app, users):
    board = client_for(app, users["board"])
    job_id = _export(board)
    _finished(job_id)
    rule = db.session.scalars(
        select(Rule).where(Rule.group_id == group("board").id, Rule.action == "avg.members.export")
    ).one()
    rule.allow = False
    db.session.commit()
    assert board.get(f"/avg/jobs/{job_id}/download").status_code == 403


def test_an_expired_result_is_gone(app, users):
    board = client_for(app, users["board"])
    job_id = _export(board)
    job = _finished(job_id)
    state = get_state()
    path = state.jobs.result_path(job)
    assert path is not None
    assert state.jobs.expire(utcnow() + timedelta(hours=49)) == 1
    db.session.commit()
    assert not path.exists()
    assert board.get(f"/avg/jobs/{job_id}/download").status_code == 410
    assert board.get(f"/avg/jobs/{job_id}/status.json").get_json()["download"] is None


def test_the_purge_removes_expired_results(app, users):
    board = client_for(app, users["board"])
    job = _finished(_export(board))
    state = get_state()
    path = state.jobs.result_path(job)
    db.session.execute(Job.__table__.update().values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    state.purge()
    db.session.commit()
    assert not path.exists()
    assert db.session.get(Job, job.id).status == "expired"


def test_erasing_a_member_removes_list_results_holding_them(app, users):
    board = client_for(app, users["board"])
    job = _finished(_export(board))
    state = get_state()
    path = state.jobs.result_path(job)
    assert path is not None
    mine = db.session.scalars(select(Member.id).where(Member.user_id == users["member"].id)).one()
    state.erase_subject(mine)
    db.session.commit()
    assert not path.exists()
    assert db.session.get(Job, job.id) is None


def test_erasing_an_account_removes_the_jobs_it_started(app, users):
    state = get_state()
    mine = db.session.scalars(select(Member.id).where(Member.user_id == users["member"].id)).one()
    job = state.jobs.create("test.count", owner=str(users["member"].id), params={"n": 1})
    other = state.jobs.create("test.count", owner=str(users["board"].id), params={"n": 1})
    db.session.commit()
    state.erase_subject(mine)
    db.session.commit()
    assert db.session.get(Job, job.id) is None
    assert db.session.get(Job, other.id) is not None


def test_a_failed_job_is_retried_from_its_page(app, users):
    state = get_state()
    board = client_for(app, users["board"])
    job = state.jobs.create("test.fail", owner=str(users["board"].id))
    db.session.commit()
    state.jobs.start(job.id, web=False)
    assert _finished(job.id).status == FAILED
    page = board.get(f"/avg/jobs/{job.id}").get_data(as_text=True)
    assert "the test job failed on purpose" in page
    assert board.post(f"/avg/jobs/{job.id}/retry").status_code == 400  # no CSRF token
    token = csrf_token(board, f"/avg/jobs/{job.id}")
    response = board.post(f"/avg/jobs/{job.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    assert _finished(job.id).attempts == 2


def test_a_small_list_is_still_exported_in_the_request(app, users):
    app.config["AVG_EXPORT_JOB_ROWS"] = 100
    board = client_for(app, users["board"])
    token = csrf_token(board, "/avg/members/export")
    response = board.post("/avg/members/export", data={"format": "csv", "csrf_token": token})
    assert response.status_code == 200 and response.mimetype.startswith("text/csv")


def test_the_cli_exports_the_list_as_a_job_with_a_progress_bar(app, users, tmp_path):
    out = tmp_path / "members.csv"
    result = app.test_cli_runner().invoke(
        args=["avg", "jobs", "export-members", "--format", "csv", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "100%" in result.output and "written" in result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=","))
    assert len(rows) == 1 + 4
    listing = app.test_cli_runner().invoke(args=["avg", "jobs", "list"])
    assert "export.members" in listing.output and "done" in listing.output
