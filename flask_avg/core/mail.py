"""Notifications by e-mail: one message type, one transport choice, sent once.

A feature renders its texts from templates (``avg/mail/<name>.txt``, optionally
``.html``; the first line of the text is the subject) in the recipient's
language and hands :func:`deliver` a :class:`Mail`. The host's own
``@avg.mail_sender`` wins; otherwise the message goes by SMTP when a server is
configured (``AVG_MAIL_*``, else the host's Flask-Mail / Flask-Mailman
``MAIL_*`` settings), and to the app's log when none is. :func:`once` records
that a notification about one thing was sent, so a daily job never repeats it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_babel import force_locale
from jinja2 import TemplateNotFound
from sqlalchemy import Integer, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.config import config_value
from flask_avg.core.models import AvgBase
from flask_avg.core.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: the SMTP settings, read as ``AVG_MAIL_<name>`` or else the host's ``MAIL_<name>``
SMTP_KEYS = ("SERVER", "PORT", "USE_TLS", "USE_SSL", "USERNAME", "PASSWORD", "DEFAULT_SENDER")


@dataclass
class Message:
    """One e-mail: recipients' addresses, subject, plain text, optional HTML."""

    to: list[str]
    subject: str
    text: str
    html: str | None = None
    language: str | None = None


@dataclass
class Mail:
    """A notification, as the host's ``@avg.mail_sender`` receives it.

    ``to`` is ``"member"`` or ``"board"``; ``user_id`` the member's login id
    (None for the board) and ``user`` the member's login user (after an erasure
    a read-only snapshot taken before it ran, since the account may be gone).
    ``subject_line`` and ``body`` are already rendered in the recipient's
    language; ``request`` is the request it is about (None for other events),
    ``recipients`` the addresses flask-avg would send it to and ``html`` the
    HTML part, if the template has one.
    """

    to: str
    user_id: str | None
    subject_line: str
    body: str
    request: Any = None
    event: str = ""
    user: Any = None
    html: str | None = None
    recipients: list[str] = field(default_factory=list)
    language: str | None = None

    @property
    def message(self) -> Message:
        return Message(self.recipients, self.subject_line, self.body, self.html, self.language)


class Notice(AvgBase):
    """A notification that was sent about one thing (``topic`` + ``ref``) and ``event``;
    the unique key keeps a daily job from sending it twice. No addresses, no names."""

    __tablename__ = "avg_mail_sent"
    __table_args__ = (UniqueConstraint("topic", "ref", "event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    ref: Mapped[str] = mapped_column(String(64), nullable=False)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# -- rendering ------------------------------------------------------------------------


def render(name: str, language: str | None = None, **context: Any) -> tuple[str, str, str | None]:
    """``avg/mail/<name>.txt`` (and ``.html`` if there is one) in ``language``:
    ``(subject, text, html)``. The text's first line is the subject."""
    language = language or str(config_value("DEFAULT_LOCALE"))
    context.setdefault("language", language)
    # the app's loader (a host's file at the same path wins), but not its context
    # processors: they may expect a page request, and a mail is none
    env = current_app.jinja_env
    with force_locale(language):
        rendered = env.get_template(f"avg/mail/{name}.txt").render(**context)
        try:
            html: str | None = env.get_template(f"avg/mail/{name}.html").render(**context)
        except TemplateNotFound:
            html = None
    subject, _, body = rendered.strip().partition("\n")
    return subject.strip(), body.strip() + "\n", html


def language_of(*people: Any) -> str:
    """The first stored language (a ``locale`` or ``language`` attribute) among
    ``people`` that flask-avg speaks, else ``AVG_DEFAULT_LOCALE``."""
    known = [str(loc) for loc in config_value("LOCALES")]
    for person in people:
        for attr in ("locale", "language"):
            value = getattr(person, attr, None) if person is not None else None
            if value and str(value).split("_")[0].split("-")[0] in known:
                return str(value).split("_")[0].split("-")[0]
    return str(config_value("DEFAULT_LOCALE"))


def address_of(*people: Any) -> str | None:
    """The first ``email`` among ``people`` (the login user, then the member)."""
    for person in people:
        value = getattr(person, "email", None) if person is not None else None
        if value:
            return str(value)
    return None


# -- recipients -----------------------------------------------------------------------


def load_user(user_id: Any) -> Any:
    """The login account with primary key ``user_id``, or None (see
    :func:`flask_avg.core.identity.account_by_key`)."""
    from flask_avg.core.identity import account_by_key

    return account_by_key(current_app.extensions["avg"], user_id)


def board_addresses(state: AvgState, action: str) -> list[str]:
    """Who hears about board work: ``AVG_BOARD_EMAIL`` when set, else the users in
    ACL groups whose computed permissions allow ``action``."""
    configured = config_value("BOARD_EMAIL")
    if configured:
        return [configured] if isinstance(configured, str) else list(configured)
    # the kernel knows the membership table only by name (the acl plugin owns it)
    table = AvgBase.metadata.tables.get("avg_group_member")
    if table is None or getattr(state, "acl", None) is None:
        return []
    found: list[str] = []
    for user_id in state.db.session.scalars(select(table.c.user_id).distinct()):
        user = load_user(user_id)
        address = address_of(user)
        if address and address not in found and state.acl.can(action, user):
            found.append(address)
    return sorted(found)


# -- sending --------------------------------------------------------------------------


def mail_board(
    state: AvgState, action: str, template: str, event: str, *, request: Any = None, **context: Any
) -> bool:
    """Render ``template`` in the default language and deliver it to everyone allowed
    ``action`` (or ``AVG_BOARD_EMAIL``); True when it went out."""
    language = str(config_value("DEFAULT_LOCALE"))
    subject, text, html = render(template, language, **context)
    mail = Mail(
        "board",
        None,
        subject,
        text,
        request,
        event,
        html=html,
        recipients=board_addresses(state, action),
        language=language,
    )
    return deliver(state, mail)


def smtp_settings(app: Any = None) -> dict[str, Any]:
    """``AVG_MAIL_*`` where set, else the host's ``MAIL_*``; empty ``SERVER``: no SMTP."""
    app = app or current_app
    out = {}
    for key in SMTP_KEYS:
        value = app.config.get(f"AVG_MAIL_{key}")
        out[key] = app.config.get(f"MAIL_{key}") if value is None else value
    sender = out["DEFAULT_SENDER"]
    if isinstance(sender, (tuple, list)):  # Flask-Mail's (name, address)
        from email.utils import formataddr

        out["DEFAULT_SENDER"] = formataddr((sender[0], sender[1]))
    return out


def send(state: AvgState, message: Message) -> None:
    """Send ``message`` by SMTP when a server is configured, else write it to the log.
    SMTP errors are raised (see :func:`deliver`)."""
    settings = smtp_settings()
    if not settings["SERVER"]:
        current_app.logger.info(
            "flask-avg mail (%s recipient(s)): %s", len(message.to), message.subject
        )
        return
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = settings["DEFAULT_SENDER"] or f"flask-avg@{settings['SERVER']}"
    email["To"] = ", ".join(message.to)
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain="flask-avg")
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.language:  # after the content: set_content drops Content-* headers
        email["Content-Language"] = message.language
    port = int(settings["PORT"] or (465 if settings["USE_SSL"] else 25))
    timeout = float(config_value("MAIL_TIMEOUT"))
    smtp_class: Callable[..., smtplib.SMTP] = (
        smtplib.SMTP_SSL if settings["USE_SSL"] else smtplib.SMTP
    )
    with smtp_class(settings["SERVER"], port, timeout=timeout) as smtp:
        if settings["USE_TLS"] and not settings["USE_SSL"]:
            smtp.starttls(context=ssl.create_default_context())
        if settings["USERNAME"]:
            smtp.login(settings["USERNAME"], settings["PASSWORD"] or "")
        smtp.send_message(email)


def deliver(state: AvgState, mail: Mail, *, subject: Any = None) -> bool:
    """Hand ``mail`` to the host's ``@avg.mail_sender``, else :func:`send` it.

    Never raises: a failure is logged and audited as ``mail.failed`` (the event
    and the error's type, never the address), and False returned.
    """
    sender: Callable[[Mail], Any] | None = getattr(state.ext, "_mail_sender", None)
    try:
        if sender is not None:
            sender(mail)
        elif not mail.recipients:
            current_app.logger.info(
                "flask-avg mail to %s: %s (%s; no address)", mail.to, mail.subject_line, mail.event
            )
        else:
            send(state, mail.message)
    except Exception as exc:  # noqa: BLE001 - a mail never breaks what it reports on
        current_app.logger.warning(
            "flask-avg: mail to %s about %s failed: %s", mail.to, mail.event, type(exc).__name__
        )
        record_failure(state, mail, exc, subject=subject)
        return False
    return True


def record_failure(state: AvgState, mail: Mail, exc: BaseException, *, subject: Any) -> None:
    session = state.db.session
    try:
        state.audit.record(
            "mail.failed",
            subject=subject,
            outcome="error",
            detail={"to": mail.to, "event": mail.event, "error": type(exc).__name__},
        )
        session.commit()
    except Exception:  # noqa: BLE001 - the log line above already says it
        session.rollback()
        current_app.logger.exception("flask-avg: could not audit a failed mail")


# -- once -----------------------------------------------------------------------------


def once(state: AvgState, topic: str, ref: Any, event: str) -> bool:
    """Claim the notification ``event`` about ``topic``/``ref``: True the first time
    (committed), False when it was claimed before (by this or another process)."""
    session = state.db.session
    exists = select(Notice.id).where(
        Notice.topic == topic, Notice.ref == str(ref), Notice.event == event
    )
    if session.scalar(exists) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Notice(topic=topic, ref=str(ref), event=event))
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def release(state: AvgState, topic: str, ref: Any, event: str) -> None:
    """Undo :func:`once` after a failed send, so the next run tries again."""
    session = state.db.session
    session.execute(
        delete(Notice).where(Notice.topic == topic, Notice.ref == str(ref), Notice.event == event)
    )
    session.commit()


def forget(state: AvgState, topic: str, refs: Iterable[Any]) -> None:
    """Drop the records of notifications about ``refs`` (their things are gone)."""
    keys = [str(r) for r in refs]
    if keys:
        state.db.session.execute(delete(Notice).where(Notice.topic == topic, Notice.ref.in_(keys)))


def run_due(state: AvgState, now: datetime | None = None) -> int:
    """Ask every plugin with a ``notify_due(state, now)`` method to send what is due
    (overdue requests, breach clocks); returns how many notifications went out."""
    now = now or utcnow()
    sent = 0
    for plugin in state.plugins:
        check = getattr(plugin, "notify_due", None)
        if check is not None:
            sent += int(check(state, now) or 0)
    return sent
