"""Host hooks around requests: the password re-check and the notifications (signal + mail)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from flask import current_app, has_request_context
from flask_babel import force_locale
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable

from flask_avg.core import identity
from flask_avg.core.config import config_value
from flask_avg.core.signals import request_event
from flask_avg.features.requests.models import (
    COMPLETED,
    ERASURE,
    IN_PROGRESS,
    LIFTED,
    RECEIVED,
    REJECTED,
    DataRequest,
)
from flask_avg.features.requests.purposes import host_text

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


@dataclass
class Mail:
    """A notification about a request, for the host's mail hook.

    ``to`` is ``"member"`` or ``"board"``; ``user_id`` the member's login id
    (None for the board) and ``user`` the member's login user, for their
    address (after an erasure a read-only snapshot taken before it ran, since
    the account may be gone). ``subject_line`` and ``body`` are already
    translated and hold no personal values.
    """

    to: str
    user_id: str | None
    subject_line: str
    body: str
    request: DataRequest
    event: str
    user: Any = None


def default_mail_sender(mail: Mail) -> None:
    """Writes the notification to the app's log instead of sending it."""
    current_app.logger.info(
        "flask-avg mail to %s: %s (request %s, %s)",
        mail.to,
        mail.subject_line,
        mail.request.id,
        mail.event,
    )


def default_password_checker(user: Any, password: str) -> bool:
    """The login system's own check: Flask-Security's ``verify_password``, else a
    werkzeug hash (see :func:`flask_avg.core.identity.check_password`)."""
    if not password:
        return False
    return identity.check_password(user, password)


def check_password(state: AvgState, user: Any, password: str) -> bool:
    checker: Callable[[Any, str], bool] = (
        getattr(state.ext, "_password_checker", None) or default_password_checker
    )
    return bool(checker(user, password))


def erasure_lines(req: DataRequest) -> str:
    """The erasure summary as plain text: what was removed, anonymised and kept, and why."""
    from flask_avg.core.i18n import gettext as _

    labels = {
        "removed": _("Removed"),
        "anonymised": _("Anonymised"),
        "retained": _("Retained"),
    }
    lines = []
    for part, label in labels.items():
        for item in req.result.get(part, []):
            line = f"{label}: {host_text(item['model'])} ({item['count']})"
            if item.get("reason"):
                line += f" - {host_text(item['reason'])}"
            lines.append(line)
    return "\n".join(lines)


def _send_mail(state: AvgState, mail: Mail) -> None:
    sender: Callable[[Mail], Any] = getattr(state.ext, "_mail_sender", None) or default_mail_sender
    sender(mail)


def login_user_of(req: DataRequest, *, snapshot: bool = False) -> Any:
    """The member's login user via Flask-Login's user loader; ``snapshot`` copies its columns."""
    manager = getattr(current_app, "login_manager", None)
    loader = getattr(manager, "_user_callback", None)
    if loader is None or req.user_id is None:
        return None
    user = loader(req.user_id)
    if user is None or not snapshot:
        return user
    try:
        attrs = sa_inspect(user).mapper.column_attrs
    except NoInspectionAvailable:
        return user
    return SimpleNamespace(**{a.key: getattr(user, a.key) for a in attrs})


def notify(state: AvgState, req: DataRequest, event: str, *, user: Any = None) -> None:
    """Signal ``request_event`` and hand the member and the board a notification."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    request_event.send(app, request=req, event=event)
    if user is None:
        user = login_user_of(req)
    if has_request_context():
        _notify(state, req, event, user)
    else:  # CLI or a worker: write in the club's default language
        with force_locale(config_value("DEFAULT_LOCALE")):
            _notify(state, req, event, user)


def _notify(state: AvgState, req: DataRequest, event: str, user: Any) -> None:
    from flask_avg.core.i18n import gettext as _

    kind = str(req.kind_label)
    texts = {
        LIFTED: (
            _("The restriction or objection you asked for has been lifted: %(kind)s", kind=kind),
            _("A restriction or objection was lifted: %(kind)s", kind=kind),
        ),
        RECEIVED: (
            _("We received your request: %(kind)s", kind=kind),
            _("A new privacy request arrived: %(kind)s", kind=kind),
        ),
        IN_PROGRESS: (
            _("We are working on your request: %(kind)s", kind=kind),
            _("A privacy request is being handled: %(kind)s", kind=kind),
        ),
        COMPLETED: (
            _("Your request has been completed: %(kind)s", kind=kind),
            _("A privacy request was completed: %(kind)s", kind=kind),
        ),
        REJECTED: (
            _("Your request has been rejected: %(kind)s", kind=kind),
            _("A privacy request was rejected: %(kind)s", kind=kind),
        ),
    }
    member_line, board_line = texts[event]
    deadline = _("Deadline: %(date)s", date=req.deadline.date().isoformat())
    member_body = member_line
    if event == REJECTED and req.reason:
        member_body += "\n" + _("Reason: %(reason)s", reason=req.reason)
    if event == COMPLETED and req.kind == ERASURE:
        member_body += "\n" + erasure_lines(req)
    _send_mail(state, Mail("member", req.user_id, member_line, member_body, req, event, user))
    _send_mail(state, Mail("board", None, board_line, board_line + "\n" + deadline, req, event))
