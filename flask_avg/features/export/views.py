"""Download buttons and routes: one member's data, the member list, the audit log; and the CLI.

Every download is a ``POST`` of a Flask-WTF form (CSRF-checked) behind an ACL
action; the ``GET`` of the same URL shows the form. Files are produced into
memory or an anonymous temporary file and streamed back, never stored.
"""

from __future__ import annotations

import getpass
import io
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from typing import IO, TYPE_CHECKING, Any

import click
from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired

from flask_avg.core.audit import current_actor
from flask_avg.core.forms import AvgForm
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jinja import NavItem
from flask_avg.core.presenters import app_name, subject_or_404
from flask_avg.core.redirects import safe_redirect
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state, require
from flask_avg.features.export import jobs as list_jobs
from flask_avg.features.export.formats import (
    LIST_FORMATS,
    SEPARATORS,
    SUBJECT_FORMATS,
    Format,
    csv_delimiter,
)
from flask_avg.features.export.lists import spooled
from flask_avg.features.export.safety import safe_filename
from flask_avg.features.export.service import (
    export_audit_log,
    export_member_list,
    export_subject,
)

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

STREAM_CHUNK = 64 * 1024


# The choices are buttons and radio buttons in the templates; the forms only check them.
class SubjectExportForm(AvgForm):
    format = StringField(validators=[InputRequired(), AnyOf(list(SUBJECT_FORMATS))])


class ListExportForm(AvgForm):
    format = StringField(validators=[InputRequired(), AnyOf(list(LIST_FORMATS))])
    q = HiddenField()


class AuditExportForm(AvgForm):
    separator = StringField(
        default=csv_delimiter, validators=[InputRequired(), AnyOf(list(SEPARATORS))]
    )


#: the word for each kind of download in a file name, in the page's language
FILE_WORDS: dict[str, Any] = {
    "member": _l("%(subject)s"),
    "my-data": _l("my-data"),
    "members": _l("%(subjects)s"),
    "audit-log": _l("audit-log"),
}


def file_word(kind: str) -> str:
    """``kind`` as a file-name word in the page's language: ``my-data`` reads
    ``mijn-gegevens`` on a Dutch page; ASCII letters, digits and dashes only."""
    word = str(FILE_WORDS.get(kind, kind)).strip().lower().replace(" ", "-")
    return safe_filename(word, kind)


def _filename(kind: str, fmt: Format, subject_id: Any = None) -> str:
    """``<club>-<kind in the page's language>[-<key>]-<date>.<extension>``; a CSV
    download that is a zip of CSV files ends in ``.zip``."""
    parts = [safe_filename(app_name(), "club"), file_word(kind)]
    if subject_id is not None:
        parts.append(safe_filename(str(subject_id)))
    parts.append(date.today().isoformat())
    return "-".join(parts) + "." + fmt.extension


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _send_buffer(buf: io.BytesIO, fmt: Format, filename: str) -> Response:
    buf.seek(0)
    response = send_file(buf, mimetype=fmt.mimetype, as_attachment=True, download_name=filename)
    return _no_store(response)


def _stream_file(fh: IO[bytes], fmt: Format, filename: str) -> Response:
    """Stream an anonymous temporary file in chunks; it is closed (and gone) at the end."""
    size = fh.tell()
    fh.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := fh.read(STREAM_CHUNK):
                yield block
        finally:
            fh.close()

    response = Response(chunks(), mimetype=fmt.mimetype, direct_passthrough=True)
    response.call_on_close(fh.close)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)


def _requester() -> str | None:
    """Who is exporting, readably: the login's e-mail address when it has one."""
    email = getattr(current_user, "email", None)
    return str(email) if email else current_actor()


def _form_status() -> int:
    """200 for the form itself; 400 for a post that failed (no CSRF token, bad format)."""
    return 400 if request.method == "POST" else 200


def _subject_download(
    state: AvgState, subject: Any, form: SubjectExportForm, kind: str, **options: Any
) -> Response:
    """Export ``subject`` in the chosen format, commit the audit entry, send the file."""
    fmt = SUBJECT_FORMATS[form.format.data]
    buf = io.BytesIO()
    doc = export_subject(
        state, subject, fmt.key, buf, actor=current_actor(), requester=_requester(), **options
    )
    state.db.session.commit()
    return _send_buffer(buf, fmt, _filename(kind, fmt, doc.subject_id))


def _spool(state: AvgState, write: Callable[[IO[bytes]], object]) -> IO[bytes]:
    """An anonymous temporary file holding what ``write`` wrote, its audit entry committed;
    closed (and so gone) again when anything fails."""
    fh = spooled()
    try:
        write(fh)
        state.db.session.commit()
    except BaseException:
        fh.close()
        raise
    return fh


@require("avg.members.export")
def member(subject_id: str) -> Any:
    state = get_state()
    subject = subject_or_404(state, subject_id)
    form = SubjectExportForm()
    if not form.validate_on_submit():
        key = state.registry.subject.value(subject, state.registry.subject.primary_key[0].name)
        page = render_template("avg/export_member.html", form=form, subject_id=key)
        return page, _form_status()
    return _subject_download(state, subject, form, "member", special=state.can("avg.special.view"))


@require("avg.self.export")
def me() -> Any:
    state = get_state()
    subject = state.subject_for(current_user)
    if subject is None:
        return render_template("avg/no_subject.html"), 404
    form = SubjectExportForm()
    if not form.validate_on_submit():
        return render_template("avg/export_me.html", form=form), _form_status()
    # Art. 15 and 20: a member gets all their data, special categories included.
    return _subject_download(state, subject, form, "my-data", special=True, action="self.export")


@require("avg.members.export")
def members() -> Any:
    state = get_state()
    form = ListExportForm()
    if not form.validate_on_submit():
        if request.method == "GET":
            form.q.data = request.args.get("q", "")
        return render_template("avg/export_members.html", form=form), _form_status()
    fmt = LIST_FORMATS[form.format.data]
    if list_jobs.wanted(state, form.q.data or ""):  # a large list: a job with a progress bar
        job = list_jobs.start(
            state,
            fmt.key,
            query=form.q.data or "",
            special=state.can("avg.special.view"),
            owner=current_actor(),
        )
        return safe_redirect(url_for("avg_jobs.status", job_id=job.id))
    fh = _spool(
        state,
        lambda out: export_member_list(
            state,
            fmt.key,
            out,
            query=form.q.data or "",
            special=state.can("avg.special.view"),
            actor=current_actor(),
        ),
    )
    return _stream_file(fh, fmt, _filename("members", fmt))


@require("avg.audit.export")
def audit() -> Any:
    state = get_state()
    form = AuditExportForm()
    if not form.validate_on_submit():
        return render_template("avg/export_audit.html", form=form), _form_status()
    sep = form.separator.data
    fh = _spool(
        state, lambda out: export_audit_log(state, out, separator=sep, actor=current_actor())
    )
    fmt = LIST_FORMATS["csv"]
    return _stream_file(fh, fmt, _filename("audit-log", fmt))


def _export_helpers() -> dict[str, Any]:
    # Download buttons on other features' pages post a CSRF token too.
    return {"avg_export_csrf": generate_csrf, "avg_export_formats": SUBJECT_FORMATS}


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("export", __name__)
    state.nav.append(
        NavItem("avg_export.audit", _l("Export audit log"), "avg.audit.export", "accountability")
    )
    bp.app_context_processor(_export_helpers)
    both = ["GET", "POST"]
    bp.add_url_rule(
        "/members/<subject_id>/export", endpoint="member", view_func=member, methods=both
    )
    bp.add_url_rule("/me/export", endpoint="me", view_func=me, methods=both)
    bp.add_url_rule("/members/export", endpoint="members", view_func=members, methods=both)
    bp.add_url_rule("/audit/export", endpoint="audit", view_func=audit, methods=both)
    return bp


def register_commands(group: click.Group) -> None:
    @group.command("export")
    @click.argument("subject_id")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(list(SUBJECT_FORMATS)),
        default="xlsx",
        show_default=True,
        help="xlsx (Excel), json, or csv (a zip with one CSV per model).",
    )
    @click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=False, allow_dash=True),
        help="File to write (created readable by you only); - for standard output.",
    )
    @click.option(
        "--special/--no-special",
        default=True,
        show_default=True,
        help="Include special-category data (health, ...), as the member themself would get.",
    )
    def export_command(subject_id: str, fmt: str, output: str, special: bool) -> None:
        """Export one member's personal data (the file to give them on an access request)."""
        state = get_state()
        actor = f"cli:{getpass.getuser()}"[:64]
        # A request context gives labels the default language (Dutch by default).
        with current_app.test_request_context():
            try:
                subject = subject_or_404(state, subject_id)
            except Exception as exc:  # noqa: BLE001 - abort(404) raises an HTTPException
                raise click.ClickException(f"no member with id {subject_id!r}") from exc
            buf = io.BytesIO()
            doc = export_subject(state, subject, fmt, buf, special=special, actor=actor)
            if output == "-":
                sys.stdout.buffer.write(buf.getvalue())
            else:
                fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(fd, 0o600)  # also when the file already existed
                with os.fdopen(fd, "wb") as fh:
                    fh.write(buf.getvalue())
            state.db.session.commit()
        if output != "-":
            click.echo(
                f"Exported {doc.row_count} row(s) in {len(doc.tables)} model(s) "
                f"of member {doc.subject_id} to {output}.",
                err=True,
            )
