"""Host hooks around requests: the password re-check and the notifications (signal + mail).

Who hears what: the member when their request is received, extended, completed
or rejected (and when a granted restriction or objection is lifted); the board
when a request arrives or passes its deadline (:func:`notify_overdue`, run by
the daily purge and ``flask avg notify-overdue``). Texts are the templates
``avg/mail/request_<event>_<member|board>.txt`` (and ``.html``), in the
member's language; see :mod:`flask_avg.core.mail` for how they are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import NoInspectionAvailable

from flask_avg.core import identity
from flask_avg.core import mail as kernel_mail
from flask_avg.core.config import config_value
from flask_avg.core.mail import Mail
from flask_avg.core.signals import request_event
from flask_avg.core.types import utcnow
from flask_avg.features.requests.models import (
    COMPLETED,
    EXTENDED,
    LIFTED,
    OPEN,
    OVERDUE,
    RECEIVED,
    REJECTED,
    DataRequest,
)
from flask_avg.features.requests.purposes import host_text

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def default_mail_sender(mail: Mail) -> None:
    """Writes the notification to the app's log instead of sending it."""
    current_app.logger.info(
        "flask-avg mail to %s: %s (request %s, %s)",
        mail.to,
        mail.subject_line,
        getattr(mail.request, "id", None),
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


def login_user_of(req: DataRequest, *, snapshot: bool = False) -> Any:
    """The member's login account, by primary key; ``snapshot`` copies its columns.

    Flask-Login's user loader is asked only when flask-avg knows no login model: it
    takes what ``get_id()`` returns, which on many sites is not the key (a rotating
    token, or an id with a session version as in the example club).
    """
    if req.user_id is None:
        return None
    from flask_avg.extension import get_state

    user = identity.account_by_key(get_state(), req.user_id)
    if user is None or not snapshot:
        return user
    try:
        attrs = sa_inspect(user).mapper.column_attrs
    except NoInspectionAvailable:
        return user
    return SimpleNamespace(**{a.key: getattr(user, a.key) for a in attrs})


#: events the member hears about, and those the board does
MEMBER_EVENTS = (RECEIVED, EXTENDED, COMPLETED, REJECTED, LIFTED)
BOARD_EVENTS = (RECEIVED, LIFTED, OVERDUE)
#: the ACL action whose holders are "the board" for requests
HANDLE = "avg.requests.handle"


@dataclass
class Recipient:
    """The member as a mail recipient, read before anything about them may go."""

    user: Any
    address: str | None
    language: str


def subject_of(state: AvgState, req: DataRequest) -> Any:
    """The member's own row (the subject), or None."""
    model = state.registry.subject
    if model.cls is None:
        return None
    key_type = model.primary_key[0].type.python_type
    try:
        return state.db.session.get(model.cls, key_type(req.subject))
    except (TypeError, ValueError):
        return None


def recipient_of(state: AvgState, req: DataRequest, *, snapshot: bool = False) -> Recipient:
    """The member's login user, address and language; ``snapshot`` copies the user
    (the account may not survive an erasure)."""
    user = login_user_of(req, snapshot=snapshot)
    member = subject_of(state, req)
    return Recipient(
        user, kernel_mail.address_of(user, member), kernel_mail.language_of(user, member)
    )


def field_label_of(req: DataRequest) -> Any:
    """The label of a correction request's field (``Model.column``), or None."""
    if not req.field:
        return None
    from flask_avg.core.presenters import column_label
    from flask_avg.extension import get_state

    name, _dot, column = req.field.rpartition(".")
    registry = get_state().registry
    try:
        model = registry.get(name) if name else registry.subject
    except KeyError:
        return None
    if column not in model.columns:
        return None
    label = column_label(model, column)
    return label if model.is_subject else f"{model.label}: {label}"


class _LazyText:
    """A text computed when shown: a mail renders in the member's language, later."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self.compute = compute

    def __str__(self) -> str:
        return str(self.compute() or "")

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))


def _context(req: DataRequest) -> dict[str, Any]:
    return {
        "req": req,
        "field_label": _LazyText(lambda: field_label_of(req)) if req.field else None,
        "erasure_lines": erasure_lines,
        "organisation_name": config_value("CLUB_NAME"),
        "contact": config_value("CLUB_CONTACT"),
    }


def notify(
    state: AvgState, req: DataRequest, event: str, *, user: Any = None, member: Any = None
) -> None:
    """Signal ``request_event`` and mail the member and the board as :data:`MEMBER_EVENTS`
    and :data:`BOARD_EVENTS` say. ``member``: a :class:`Recipient` read earlier (before
    an erasure); ``user``: the member's login user, when the caller has it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    request_event.send(app, request=req, event=event)
    if event in MEMBER_EVENTS:
        if member is None:
            member = recipient_of(state, req)
            if user is not None:
                member.user = user
        mail_member(state, req, event, member)
    if event in BOARD_EVENTS:
        mail_board(state, req, event)


def mail_member(state: AvgState, req: DataRequest, event: str, member: Recipient) -> bool:
    subject, text, html = kernel_mail.render(
        f"request_{event}_member", member.language, **_context(req)
    )
    mail = Mail(
        "member",
        req.user_id,
        subject,
        text,
        req,
        event,
        member.user,
        html=html,
        recipients=[member.address] if member.address else [],
        language=member.language,
    )
    return kernel_mail.deliver(state, mail, subject=req.subject)


def mail_board(state: AvgState, req: DataRequest, event: str) -> bool:
    return kernel_mail.mail_board(
        state, HANDLE, f"request_{event}_board", event, request=req, **_context(req)
    )


def notify_overdue(state: AvgState, now: datetime | None = None) -> int:
    """Tell the board once about each open request past its deadline; returns how many."""
    now = now or utcnow()
    late = state.db.session.scalars(
        select(DataRequest)
        .where(DataRequest.status.in_(OPEN), DataRequest.deadline < now)
        .order_by(DataRequest.deadline, DataRequest.id)
    ).all()
    sent = 0
    for req in late:
        if not kernel_mail.once(state, "request", req.id, OVERDUE):
            continue
        if mail_board(state, req, OVERDUE):
            sent += 1
        else:  # not told: the next run tries again
            kernel_mail.release(state, "request", req.id, OVERDUE)
    return sent
