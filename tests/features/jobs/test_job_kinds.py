"""Long work run as jobs from the command line, inline with a progress bar: the
register file, key rotation, the scan and the anonymised copy.

Each command leaves a job row saying what happened (state, progress, result,
error); a result file (the register, the scan report) is private, expires, is
audited when copied out and downloadable on the jobs page by its owner only.
"""

from __future__ import annotations

import stat
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from example_app.models import db
from flask_avg.core.identity import user_key
from flask_avg.core.jobs import DONE, EXPIRED, FAILED, ROTATE_KEYS, InlineRunner, Job
from flask_avg.core.models import AuditEntry
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from tests.core.test_crypto import NEW, OLD, _raw_notes, _seed, club
from tests.support.acl import client_for, make_users


@pytest.fixture
def results(app, tmp_path):
    app.config["AVG_JOB_DIR"] = str(tmp_path / "results")
    return tmp_path


def _jobs(kind: str) -> list[Job]:
    db.session.commit()  # a new transaction: MariaDB shows the job's own commits
    return list(db.session.scalars(select(Job).where(Job.kind == kind)))


def _downloads() -> list[dict]:
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "jobs.download"))
    return [entry.detail for entry in rows]


def test_the_register_file_is_a_job_with_a_private_result(app, results):
    out = results / "register.xlsx"
    done = app.test_cli_runner().invoke(args=["avg", "register", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "register: 100%" in done.output and "Register written" in done.output
    (job,) = _jobs("register")
    assert (job.status, job.progress, job.total, job.owner) == (DONE, 2, 2, None)
    path = get_state().jobs.result_path(job)
    assert path is not None and path.read_bytes() == out.read_bytes()
    assert out.read_bytes()[:2] == b"PK"  # a workbook
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "register" not in path.name
    assert (job.expires_at - job.finished_at) == timedelta(hours=48)
    assert _downloads() == [{"job": job.id, "kind": "register", "file": str(out)}]


def test_a_register_job_is_downloaded_by_its_owner_only(app, results):
    users = make_users()
    state = get_state()
    job = state.jobs.create("register", owner=user_key(users["board"]))
    db.session.commit()
    state.jobs.start(job, runner=InlineRunner())
    db.session.commit()
    board = client_for(app, users["board"])
    response = board.get(f"/avg/jobs/{job.id}/download")
    assert response.status_code == 200, response.status_code
    assert response.headers["Cache-Control"] == "no-store, private"
    assert response.data[:2] == b"PK"
    response.close()
    assert _downloads() == [{"job": job.id, "kind": "register", "file": "register.xlsx"}]
    for other in ("member", "public"):
        refused = client_for(app, users[other]).get(f"/avg/jobs/{job.id}/download")
        refused.close()
        assert refused.status_code in (302, 403, 404), (other, refused.status_code)
    assert len(_downloads()) == 1


def test_the_scan_is_a_job_whose_report_expires(app, results):
    from example_app.models import Member

    member = Member(
        member_number="S1",
        first_name="Sam",
        last_name="Scan",
        email="s@example.org",
        start_date=date(2020, 1, 1),
    )
    db.session.add(member)
    db.session.commit()
    out = results / "scan.txt"
    done = app.test_cli_runner().invoke(args=["avg", "scan", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "scanning: 100%" in done.output and "table(s) scanned" in done.output
    (job,) = _jobs("scan")
    assert job.status == DONE and job.total == job.progress > 1  # tables, in steps
    path = get_state().jobs.result_path(job)
    report = path.read_text()
    assert report == out.read_text() and "table(s) scanned" in report
    assert report.strip().splitlines()[-1] in done.output
    # expiry: the file goes, the row says so
    state = get_state()
    assert state.jobs.expire(utcnow() + timedelta(hours=49)) == 1
    db.session.commit()
    assert not path.exists() and _jobs("scan")[0].status == EXPIRED


def test_the_anonymised_copy_is_a_job_that_never_stores_the_password(app, results):
    url = f"sqlite:///{results / 'copy.db'}"
    done = app.test_cli_runner().invoke(args=["avg", "anonymised-copy", "--to", url])
    assert done.exit_code == 0, done.output
    assert "copying: 100%" in done.output and "table(s) copied" in done.output
    (job,) = _jobs("safecopy")
    assert job.status == DONE and job.params["to"] == url and job.result_path is None
    # a server URL keeps its password out of the job's row
    secret = "postgresql+psycopg://club:geheim-wachtwoord@127.0.0.1:1/nowhere"
    failed = app.test_cli_runner().invoke(args=["avg", "anonymised-copy", "--to", secret])
    assert failed.exit_code != 0
    row = next(j for j in _jobs("safecopy") if j.id != job.id)
    assert row.status == FAILED and "cannot reach the target database" in (row.error or "")
    assert "geheim" not in row.params_json and "***" in row.params["to"]
    # retried elsewhere, the job asks for the command again rather than guessing the URL
    state = get_state()
    assert state.jobs.retry(row)
    db.session.commit()
    state.jobs.start(row, runner=InlineRunner())
    db.session.commit()
    row = db.session.get(Job, row.id, populate_existing=True)
    assert row.status == FAILED and "run flask avg anonymised-copy again" in row.error


def test_key_rotation_is_a_job_with_progress(db_url, results):
    with club(db_url, OLD):
        _seed(25)
        db.session.commit()
        db.session.remove()
    with club(db_url, f"{NEW},{OLD}") as site:
        site.config["AVG_JOB_DIR"] = str(results / "results")
        done = site.test_cli_runner().invoke(args=["avg", "rotate-keys", "--batch-size", "10"])
        assert done.exit_code == 0, done.output
        assert "25 value(s) re-encrypted under key t2 in 1 column(s); 0 left" in done.output
        assert "100%" in done.output
        (job,) = _jobs(ROTATE_KEYS)
        assert (job.status, job.progress, job.total, job.attempts) == (DONE, 25, 25, 1)
        assert all(v.startswith("v2:t2:") for v in _raw_notes() if v)
        db.session.remove()


def test_key_rotation_without_keys_makes_no_job(app):
    app.extensions["avg"].keyring = None
    result = app.test_cli_runner().invoke(args=["avg", "rotate-keys"])
    assert result.exit_code == 1 and "no encryption keys" in result.output
    assert _jobs(ROTATE_KEYS) == []


def test_an_erasure_removes_the_scan_report(app, results):
    from tests.support.factories import full_member

    someone = full_member(1).member
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["avg", "scan"]).exit_code == 0
    (job,) = _jobs("scan")
    path = get_state().jobs.result_path(job)
    assert path is not None
    get_state().erase_subject(someone.id, actor="cli")
    db.session.commit()
    assert _jobs("scan") == [] and not path.exists()
