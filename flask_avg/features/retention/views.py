"""Retention pages and commands: the options page, erase-a-member, purge and replay."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING, Any

import click
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.cli import with_appcontext

from flask_avg.core import external
from flask_avg.core.audit import current_actor, write_chain_head
from flask_avg.core.converters import MAX_DAYS
from flask_avg.core.dashboard import DashboardPanel
from flask_avg.core.forms import AvgForm
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jinja import NavItem
from flask_avg.core.logins import logins_of
from flask_avg.core.plugins import ErasureRefused, SubjectContext
from flask_avg.core.presenters import subject_or_404
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state, require
from flask_avg.features.retention import ledger as ledger_mod
from flask_avg.features.retention.engine import ModelCounts
from flask_avg.features.retention.erase import PURGE_RUNNING, anchor_label, check, refusals
from flask_avg.features.retention.plan import Plan, erase_setting
from flask_avg.features.retention.preview import preview, preview_run, shared_on_purge
from flask_avg.features.retention.runs import job_of
from flask_avg.features.retention.service import (
    PurgeLocked,
    RunView,
    confirm_settings,
    erase_subject,
    get_run,
    is_confirmed,
    purge,
    purge_status,
    run_purge,
    save_settings,
    start_purge,
)

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class ConfirmForm(AvgForm):
    """CSRF only; the fields are read by name."""


def _parse_days(state: AvgState, form: Any) -> tuple[dict[str, int], dict[str, str]]:
    """Days per retention category from the posted form: whole numbers from the legal
    floor up to 100 years (:data:`~flask_avg.core.converters.MAX_DAYS`)."""
    days: dict[str, int] = {}
    errors: dict[str, str] = {}
    for key, cat in _in_use(state).items():
        raw = (form.get(f"days_{key}") or "").strip()
        if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
            errors[key] = _("Enter a whole number of days.")
            continue
        value = int(raw)
        if value < 1:
            errors[key] = _("Enter a whole number of days.")
        elif value < cat.floor_days:
            errors[key] = _(
                "At least %(days)s days: %(reason)s",
                days=cat.floor_days,
                reason=str(cat.floor_reason or ""),
            )
        elif value > MAX_DAYS:
            errors[key] = _("At most %(days)s days (100 years).", days=MAX_DAYS)
        days[key] = value
    return days, errors


def _in_use(state: AvgState) -> dict[str, Any]:
    """The retention categories some declared model uses (no invoices for a host without)."""
    used = state.registry.retention_categories
    return {k: cat for k, cat in state.catalogue.retention.items() if k in used}


def _panel_context(state: AvgState) -> dict[str, Any]:
    counts = preview(state)
    return {
        "rows": [
            (state.catalogue.retention[key].label, sum(models.values()))
            for key, models in counts.items()
            if models
        ]
    }


def _external_context(state: AvgState) -> dict[str, Any]:
    """Per plugin: external erasures still owed, how many failed, the last error."""
    owed: dict[str, dict[str, Any]] = {}
    for row in external.pending(state):
        plugin = state.plugins.get(row.plugin)
        title = (plugin.title if plugin is not None else None) or row.plugin
        blank = {"title": title, "owed": 0, "failed": 0, "error": None, "at": None}
        item = owed.setdefault(row.plugin, blank)
        item["owed"] += 1
        if row.attempts:
            item["failed"] += 1
            item["error"], item["at"] = row.last_error, row.last_attempt_at
    return {"owed": owed, "form": ConfirmForm()}


@require("avg.retention.manage")
def retry_external() -> Any:
    """The board retries what plugins still owe (files, mailing lists) now."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    done, failed = external.run(get_state())
    if failed:
        flash(
            _("%(failed)s erasure(s) outside the database failed again.", failed=failed),
            "error",
        )
    else:
        flash(_("%(done)s erasure(s) outside the database done.", done=done), "success")
    return redirect(
        url_for("avg_accountability.dashboard")
        if "avg_accountability" in current_app.blueprints
        else url_for("avg_retention.manage")
    )


#: The advice in days next to the install default, for the categories whose own
#: advice names no days (MMS: one to two years after the end is safe for a club;
#: the members' category says so in its own advice already).
ADVICE_DAYS: dict[str, tuple[int, int]] = {
    "signups": (365, 730),
    "accounts": (365, 730),
}


def _anchors(state: AvgState, cats: dict[str, Any]) -> dict[str, list[tuple[Any, str]]]:
    """Per category: (model label, what its rows are counted from), as each model
    declares its own anchor (messages from their send date, not the end of membership)."""
    out: dict[str, list[tuple[Any, str]]] = {key: [] for key in cats}
    for m in state.registry:
        key = m.policy.retention
        if key in out and m.policy.anchor:
            out[key].append((m.label, anchor_label(m)))
    return out


@require("avg.retention.manage")
def manage() -> Any:
    state = get_state()
    form = ConfirmForm()
    cats = _in_use(state)
    current = Plan(state, date.today()).days
    models = [m for m in state.registry]
    erase_choice = {
        m.name: str(state.settings.get(erase_setting(m), m.policy.erase)) for m in models
    }
    values = {key: current[key] for key in cats}
    errors: dict[str, str] = {}
    result = None
    shared_rows: list[Any] = []
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        values, errors = _parse_days(state, request.form)
        for m in models:
            choice = request.form.get(f"erase_{m.name}", erase_choice[m.name])
            if choice in ("delete", "anonymise"):
                erase_choice[m.name] = choice
        action = request.form.get("action")
        if not errors and action == "confirm":
            confirm_settings(state, values, actor=current_actor())
            flash(_("Retention periods confirmed."), "success")
            return redirect(url_for("avg_retention.manage"))
        if not errors and action == "save":
            save_settings(state, values, erase_choice, actor=current_actor())
            flash(_("Retention settings saved."), "success")
            return redirect(url_for("avg_retention.manage"))
        if not errors:
            result = preview_run(state, values)
            if result is None:
                flash(str(PURGE_RUNNING), "error")
            shared_rows = shared_on_purge(state, values)
    labels = {**state.plugins.labels(), **{m.name: m.label for m in models}}
    return render_template(
        "avg/retention/manage.html",
        form=form,
        cats=cats,
        values=values,
        errors=errors,
        result=result,
        shared_rows=shared_rows,
        labels=labels,
        models=models,
        erase_choice=erase_choice,
        anchors=_anchors(state, cats),
        confirmed=is_confirmed(state),
        advice=ADVICE_DAYS,
        status=purge_status(state),
        today=date.today(),
        purge_form=ConfirmForm(),
    )


@require("avg.retention.manage")
def purge_now() -> Any:
    """The board's "purge now": runs in the background; the page shows its progress."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    state = get_state()
    before = purge_status(state).running
    run_id, _handle = start_purge(state, actor=current_actor())
    if before is not None and before.id == run_id:
        flash(_("A purge is already running: its progress is shown below."), "info")
    else:
        job = job_of(state, run_id)
        state.audit.record(
            "retention.purge_started", detail={"run": run_id, "job": job.id if job else None}
        )
        state.db.session.commit()
    return redirect(url_for("avg_retention.run", run_id=run_id))


def _run_or_404(run_id: int) -> RunView:
    found = get_run(get_state(), run_id)
    if found is None:
        abort(404)
    return found


@require("avg.retention.manage")
def run(run_id: int) -> Any:
    """One purge run: a progress bar while it runs (the page refreshes itself), the
    result once it is over."""
    found = _run_or_404(run_id)
    state = get_state()
    labels = {key: cat.label for key, cat in state.catalogue.retention.items()}
    job = job_of(state, run_id)
    job_url = (
        url_for("avg_jobs.status", job_id=job.id)
        if job is not None
        and job.owner is not None
        and job.owner == current_actor()
        and "avg_jobs.status" in current_app.view_functions
        else None
    )
    return render_template(
        "avg/retention/run.html", run=found, category_labels=labels, job=job, job_url=job_url
    )


@require("avg.retention.manage")
def run_status(run_id: int) -> Any:
    """A run's progress as JSON, for a page script or a monitor (never cached)."""
    response = jsonify(_run_or_404(run_id).as_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@require("avg.members.erase")
def erase(subject_id: str) -> Any:
    state = get_state()
    typed = state.registry.subject.key_of(subject_or_404(state, subject_id))[0]
    form = ConfirmForm()
    labels = {**state.plugins.labels(), **{m.name: m.label for m in state.registry}}
    status, headers = 200, {}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            result = erase_subject(state, typed, reason="board")
        except PurgeLocked:  # nothing changed: the board can press the button again
            flash(str(PURGE_RUNNING), "error")
            status, headers = 503, {"Retry-After": "60"}
        except ErasureRefused as exc:  # the last Super User: nothing changed
            flash(str(exc), "error")
            status = 409
        else:
            return render_template("avg/retention/erased.html", result=result, labels=labels)
    checks = check(state, Plan(state, date.today()), typed)
    ctx = SubjectContext(state, state.db.session, typed, logins_of(state, [typed]))
    if request.method == "GET":  # say so before the board presses the button
        for refusal in refusals(state, typed, ctx.logins, "board"):
            flash(str(refusal.reason), "error")
    page = render_template(
        "avg/retention/erase.html",
        form=form,
        subject_id=typed,
        checks=checks,
        labels=labels,
        holds=[hold for _plugin, hold in state.plugins.check(ctx)],
    )
    return page, status, headers


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("retention", __name__)
    state.nav.append(
        NavItem("avg_retention.manage", _l("Retention"), "avg.retention.manage", "retention")
    )
    if state.plugins.external:
        state.dashboard.append(
            DashboardPanel(
                key="external",
                title=_l("Erasure outside the database"),
                template="avg/retention/panel_external.html",
                context=_external_context,
                action="avg.retention.manage",
                order=45,
            )
        )
    state.dashboard.append(
        DashboardPanel(
            key="retention",
            title=_l("Next purge would remove"),
            template="avg/retention/panel.html",
            context=_panel_context,
            action="avg.retention.manage",
            order=40,
        )
    )
    bp.add_url_rule(
        "/retention/external",
        endpoint="retry_external",
        view_func=retry_external,
        methods=["POST"],
    )
    bp.add_url_rule("/retention", endpoint="manage", view_func=manage, methods=["GET", "POST"])
    bp.add_url_rule("/retention/purge", endpoint="purge_now", view_func=purge_now, methods=["POST"])
    bp.add_url_rule("/retention/runs/<avg_id:run_id>", endpoint="run", view_func=run)
    bp.add_url_rule(
        "/retention/runs/<avg_id:run_id>.json", endpoint="run_status", view_func=run_status
    )
    bp.add_url_rule(
        "/members/<subject_id>/erase", endpoint="erase", view_func=erase, methods=["GET", "POST"]
    )
    return bp


def _print_counts(categories: dict[str, dict[str, ModelCounts]]) -> None:
    for category, models in categories.items():
        total = sum(c.deleted for c in models.values())
        anon = sum(c.anonymised for c in models.values())
        click.echo(f"{category}: {total} deleted, {anon} anonymised")
        for name, c in models.items():
            if c.deleted or c.anonymised or c.held or c.blocked:
                click.echo(
                    f"  {name}: {c.deleted} deleted, {c.anonymised} anonymised"
                    + (
                        f", {c.blocked} kept (still referred to)"
                        if c.blocked and not c.anonymised
                        else ""
                    )
                )


def register_commands(group: Any) -> None:
    @group.command("purge")
    @click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
    @click.option(
        "--as-of",
        "as_of",
        default=None,
        help="Purge as if today were DATE (YYYY-MM-DD); the audit log's own "
        "retention still counts from today.",
    )
    @click.option(
        "--wait", default=600.0, show_default=True, help="Seconds to wait for a running purge."
    )
    @with_appcontext
    def purge_command(dry_run: bool, as_of: str | None, wait: float) -> None:
        """Remove personal data past its retention date (run daily from cron)."""
        state = current_app.extensions["avg"]
        day = date.fromisoformat(as_of) if as_of else None
        if dry_run:
            try:
                result = purge(state, day, dry_run=True, actor="cli", wait=wait)
            except PurgeLocked as exc:
                click.echo(f"purge skipped: {exc}", err=True)
                sys.exit(75)
        else:  # a job with a progress bar, recorded like the board's "purge now"
            job, done = run_purge(state, as_of=day, actor="cli", wait=wait)
            if done is None:
                run = get_run(state, int(job.params["run"]))
                if run is not None and run.status == "skipped":
                    click.echo(f"purge skipped: {job.error}", err=True)
                    sys.exit(75)
                click.echo(f"purge failed: {job.error} (job {job.id})", err=True)
                sys.exit(1)
            result = done
        head = "dry run, nothing changed" if dry_run else f"{result.batches} batch(es)"
        click.echo(f"purge as of {result.as_of.isoformat()} ({head})")
        _print_counts(result.categories)
        click.echo(f"audit entries dropped: {result.audit_entries_dropped}")
        if result.stale_accounts:
            click.echo(f"stale login accounts removed: {result.stale_accounts}")
        if result.refused:
            click.echo(f"members kept, the last Super User: {result.refused}")

    @group.command("erase")
    @click.argument("subject_id")
    @click.option(
        "--wait",
        type=float,
        default=None,
        help="Seconds to wait for a running purge [default: AVG_ERASE_LOCK_WAIT].",
    )
    @with_appcontext
    def erase_command(subject_id: str, wait: float | None) -> None:
        """Erase one member now (legal holds stay until their own date)."""
        state = current_app.extensions["avg"]
        key = state.registry.subject.primary_key[0]
        try:
            result = erase_subject(state, key.type.python_type(subject_id), actor="cli", wait=wait)
        except LookupError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)
        except PurgeLocked as exc:
            click.echo(f"erase skipped: {exc}", err=True)
            sys.exit(75)
        except ErasureRefused as exc:
            click.echo(f"erase refused: {exc}", err=True)
            sys.exit(1)
        for kind in ("removed", "anonymised", "retained"):
            for item in getattr(result, kind):
                click.echo(f"{kind}: {item.model} {item.count} ({item.reason})")

    @group.command("export-ledger")
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
    @with_appcontext
    def export_ledger(output: str) -> None:
        """Write the erasure ledger to FILE (keep it outside the database backup)."""
        n = ledger_mod.export(current_app.extensions["avg"], output)
        write_chain_head(f"{output}.audit-head.json")  # the audit chain's head beside it
        click.echo(f"{n} ledger entries written to {output}")

    @group.command("replay-erasures")
    @click.argument("ledger_file", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--wait", type=float, default=600.0, show_default=True, help="Seconds to wait for a purge."
    )
    @with_appcontext
    def replay_erasures(ledger_file: str, wait: float) -> None:
        """After a restore from backup: erase again everyone in an exported ledger."""
        state = current_app.extensions["avg"]
        try:
            totals = ledger_mod.replay(state, ledger_file, actor="cli", wait=wait)
        except PurgeLocked as exc:
            click.echo(f"replay skipped: {exc}", err=True)
            sys.exit(75)
        click.echo(
            f"replayed: {totals['subjects']} subject(s) erased again, {totals['deleted']} rows "
            f"deleted, {totals['anonymised']} anonymised, "
            f"{totals['restored_entries']} ledger entries restored"
        )
