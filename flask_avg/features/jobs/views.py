"""A job's page (a progress bar that follows it), its state as JSON, its result, a retry.

Only the account that started a job sees it, and only while it may still do
what the job does (the kind's ACL action); anybody else gets a 404, as if the
job did not exist. Result files are sent with ``Cache-Control: no-store`` and
every download is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, jsonify, make_response, render_template, send_file, url_for

from flask_avg.core.audit import current_actor
from flask_avg.core.forms import AvgForm
from flask_avg.core.jobs import DONE, FAILED, Job
from flask_avg.core.redirects import safe_redirect
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class RetryForm(AvgForm):
    """Retry a failed job (a CSRF token, nothing more)."""


def _job(job_id: str) -> tuple[AvgState, Job]:
    """The current user's job ``job_id``; anything else ends the request here."""
    state = get_state()
    job = state.jobs.get(job_id)
    kind = state.jobs.kinds.get(job.kind) if job is not None else None
    if job is None or kind is None:
        abort(404)
    if not state.can(kind.action):  # anonymous visitors: to the login page
        abort(make_response(state.deny(kind.action)))
    if job.owner is None or job.owner != current_actor():
        abort(404)  # somebody else's job: as if there were none
    if job.status == "running" and state.jobs.reap():  # its worker died
        state.db.session.commit()
        state.db.session.refresh(job)
    return state, job


def _describe(state: AvgState, job: Job) -> dict[str, Any]:
    kind = state.jobs.kinds.get(job.kind)
    return {
        "id": job.id,
        "status": job.status,
        "progress": job.progress,
        "total": job.total,
        "percent": job.percent,
        "error": job.error if job.status == FAILED else None,
        "download": (
            url_for("avg_jobs.download", job_id=job.id)
            if job.status == DONE and state.jobs.result_path(job) is not None
            else None
        ),
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        # the kind's own page about the work (a purge run's counts), if it has one
        "link": kind.link(job) if kind is not None and kind.link is not None else None,
    }


def status(job_id: str) -> Any:
    state, job = _job(job_id)
    kind = state.jobs.kinds[job.kind]
    return render_template(
        "avg/jobs/status.html",
        job=job,
        kind=kind,
        info=_describe(state, job),
        form=RetryForm(),
    )


def status_json(job_id: str) -> Any:
    state, job = _job(job_id)
    return jsonify(_describe(state, job))


def download(job_id: str) -> Any:
    state, job = _job(job_id)
    path = state.jobs.result_path(job)
    if path is None:
        return render_template("avg/jobs/gone.html", job=job), 410
    state.audit.record(
        "jobs.download",
        actor=current_actor(),
        detail={"job": job.id, "kind": job.kind, "file": job.result_name or ""},
    )
    state.db.session.commit()
    response = send_file(
        Path(path),
        mimetype=job.result_type or "application/octet-stream",
        as_attachment=True,
        download_name=job.result_name or path.name,
        max_age=0,
        conditional=False,
        etag=False,
    )
    response.headers["Cache-Control"] = "no-store, private"
    return response


def retry(job_id: str) -> Any:
    state, job = _job(job_id)
    form = RetryForm()
    if not form.validate_on_submit():
        abort(400)
    if state.jobs.retry(job):
        state.audit.record("jobs.retried", actor=current_actor(), detail={"job": job.id})
        state.db.session.commit()
        state.jobs.start(job.id)
    return safe_redirect(url_for("avg_jobs.status", job_id=job.id))


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("jobs", __name__)
    bp.static_folder = str(Path(__file__).parent / "static")
    bp.static_url_path = "/jobs/static"
    bp.add_url_rule("/jobs/<job_id>", endpoint="status", view_func=status)
    bp.add_url_rule("/jobs/<job_id>/status.json", endpoint="status_json", view_func=status_json)
    bp.add_url_rule("/jobs/<job_id>/download", endpoint="download", view_func=download)
    bp.add_url_rule("/jobs/<job_id>/retry", endpoint="retry", view_func=retry, methods=["POST"])
    return bp
