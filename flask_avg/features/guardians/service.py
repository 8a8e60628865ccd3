"""Minors and their guardians: age of consent, guardian links, acting for a child.

* **Age.** The subject model declares the date of birth once
  (``ModelPolicy(birth_date="birth_date")``). Below ``AVG_AGE_OF_CONSENT`` (16,
  as in the Netherlands: Art. 8 GDPR, UAVG art. 5) a member's consent is given
  and withdrawn by a guardian: :func:`consent_guard` refuses the child's own
  attempt. A member without a known birth date counts as of age.
* **Guardians.** A login account becomes a child's guardian when it accepts
  the board's e-mail invitation (a signed, expiring, single-use link). It then
  switches between "me" and each child (:func:`switch`); while it acts for a
  child every self-service page works on the child, and every audit entry
  about the child says ``on_behalf: guardian``.
* **Birthdays.** :func:`birthdays` (``flask avg guardians``, daily) tells a
  member who reached the age of consent that their consent is now theirs, and
  ends the guardians' links at ``AVG_GUARDIAN_UNTIL_AGE``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import current_app, has_request_context, session, url_for
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, or_, select

from flask_avg.core import mail as kernel_mail
from flask_avg.core.audit import login_hash
from flask_avg.core.config import config_value
from flask_avg.core.i18n import gettext as _
from flask_avg.core.identity import account_by_key, user_key
from flask_avg.core.logins import logins_of
from flask_avg.core.models import AuditEntry
from flask_avg.core.plugins import Erased
from flask_avg.core.subjects import (
    ConsentRefused,
    acting_for,
    age_on,
    birth_date_of,
    lock_subject,
)
from flask_avg.core.types import utcnow
from flask_avg.features.guardians.models import ACTIVE, ENDED, INVITED, GuardianLink

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: the session key holding the subject a guardian acts for ("" or missing: themselves)
SESSION_KEY = "avg_acting_for"
#: the role recorded in audit entries made while acting for a child
ROLE = "guardian"
_SALT = "flask-avg.guardian-invite"
#: the kernel's once-only notices: topic and event for "your consent is now yours"
NOTICE_TOPIC, NOTICE_EVENT = "guardians", "age_of_consent"


class InvitationInvalid(Exception):
    """An invitation link that does not work (any more): ``str(exc)`` says why, translated."""


# -- age ---------------------------------------------------------------------------------


def today() -> date:
    return utcnow().date()


def age_of(state: AvgState, subject: Any, day: date | None = None) -> int | None:
    """The subject's age in whole years on ``day`` (today), None without a birth date."""
    born = birth_date_of(state, subject)
    return None if born is None else age_on(born, day or today())


def is_minor(state: AvgState, subject: Any, day: date | None = None) -> bool:
    """Below ``AVG_AGE_OF_CONSENT``: a guardian decides on consent."""
    age = age_of(state, subject, day)
    return age is not None and age < int(config_value("AGE_OF_CONSENT"))


def guardian_may_act(state: AvgState, subject: Any, day: date | None = None) -> bool:
    """Whether a guardian's access to ``subject`` still runs (``AVG_GUARDIAN_UNTIL_AGE``)."""
    until = config_value("GUARDIAN_UNTIL_AGE")
    if until is None:
        return True
    age = age_of(state, subject, day)
    return age is None or age < int(until)


def load_subject(state: AvgState, key: Any) -> Any:
    """The subject row with key ``key`` (text), or None (also for a key of the wrong type)."""
    model = state.registry.subject
    pk = model.primary_key[0]
    try:
        typed = pk.type.python_type(key)
    except (TypeError, ValueError, NotImplementedError):
        return None
    if isinstance(typed, str) and len(typed) > 64:
        return None
    try:
        return state.db.session.get(model.cls, typed)
    except Exception:  # noqa: BLE001 - a number no column holds names nobody
        state.db.session.rollback()
        return None


def subject_key(state: AvgState, subject: Any) -> str:
    return str(state.registry.subject.key_of(subject)[0])


# -- guardians ---------------------------------------------------------------------------


def links_of(state: AvgState, subject: Any, *, ended: bool = False) -> list[GuardianLink]:
    """The guardian links of ``subject`` (a row or a key), newest first."""
    key = subject if isinstance(subject, str) else subject_key(state, subject)
    stmt = select(GuardianLink).where(GuardianLink.subject == key)
    if not ended:
        stmt = stmt.where(GuardianLink.status != ENDED)
    return list(state.db.session.scalars(stmt.order_by(GuardianLink.id.desc())))


@dataclass
class Child:
    """A subject a guardian may act for: the row and its key."""

    key: str
    subject: Any
    label: str


def children_of(state: AvgState, user: Any) -> list[Child]:
    """The subjects ``user`` may act for now, in key order (erased ones and those past
    ``AVG_GUARDIAN_UNTIL_AGE`` left out)."""
    account = user_key(user)
    if account is None:
        return []
    keys = set(
        state.db.session.scalars(
            select(GuardianLink.subject)
            .where(GuardianLink.guardian == account, GuardianLink.status == ACTIVE)
            .distinct()
        )
    )
    model = state.registry.subject
    plugin: Any = state.plugins.get("guardians")
    for loader in getattr(plugin, "loaders", ()):
        for child in loader(user) or ():
            keys.add(
                str(child) if not isinstance(child, model.cls or ()) else subject_key(state, child)
            )
    found = []
    for key in sorted(keys):
        row = load_subject(state, key)
        if row is None or state.is_erased(model.name, key):
            continue
        if guardian_may_act(state, row):
            found.append(Child(key, row, display_name(state, row)))
    return found


def display_name(state: AvgState, subject: Any) -> str:
    """A readable name for a subject: first and last name, a name, else its e-mail address."""
    parts = [getattr(subject, a, None) for a in ("first_name", "last_name")]
    name = " ".join(str(p) for p in parts if p)
    for value in (name, getattr(subject, "name", None), getattr(subject, "email", None)):
        if value:
            return str(value)
    return "#" + subject_key(state, subject)


def may_act_for(state: AvgState, user: Any, key: str) -> Any:
    """The subject ``user`` may act for under ``key``, or None."""
    return next((c.subject for c in children_of(state, user) if c.key == key), None)


def switch(state: AvgState, user: Any, own: Any) -> tuple[Any, str] | None:
    """``state.subject_switchers`` entry: the child the current login chose to act for.

    Checked on every request (a link ended or a birthday passed since the choice
    takes effect at once); only for the current request's own login.
    """
    if not has_request_context() or not current_user.is_authenticated:
        return None
    wanted = session.get(SESSION_KEY)
    if not wanted or user_key(user) != user_key(current_user):
        return None
    child = may_act_for(state, user, str(wanted))
    if child is None:
        session.pop(SESSION_KEY, None)
        return None
    return child, ROLE


def choose(state: AvgState, user: Any, key: str | None) -> Any:
    """Act for child ``key`` from now on (None or "": for oneself); audited, committed.

    Returns the child (None for oneself); raises ``LookupError`` for a key the
    user may not act for.
    """
    if not key:
        session.pop(SESSION_KEY, None)
        return None
    child = may_act_for(state, user, key)
    if child is None:
        raise LookupError(key)
    session[SESSION_KEY] = key
    state.audit.record("guardian.switch", subject=key, detail={"on_behalf": ROLE})
    state.db.session.commit()
    return child


def consent_guard(state: AvgState, subject: str, purpose: str, method: str) -> None:
    """``state.consent_guards`` entry: below the age of consent only a guardian answers
    on the website; from it, only the member. Answers the board records from a paper
    form or the host's sign-up form are the board's and the host's responsibility, and
    so is code run outside a web request (an import script, a test)."""
    if method != "self_service" or not has_request_context():
        return
    row = load_subject(state, subject)
    if row is None:
        return
    acting = acting_for()
    by_guardian = acting is not None and acting["subject"] == subject and acting["role"] == ROLE
    if is_minor(state, row) and not by_guardian:
        raise ConsentRefused(
            _(
                "You are younger than %(age)s, so your parent or guardian decides about this. "
                "Ask them to do it for you.",
                age=int(config_value("AGE_OF_CONSENT")),
            )
        )
    if by_guardian and not is_minor(state, row):
        raise ConsentRefused(
            _(
                "%(name)s is %(age)s or older and now decides about consent themselves.",
                name=display_name(state, row),
                age=int(config_value("AGE_OF_CONSENT")),
            )
        )


# -- invitations -------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def invite(state: AvgState, subject: Any, email: str, *, actor: str | None) -> GuardianLink:
    """Invite ``email`` to become ``subject``'s guardian: an open link and a mail with a
    signed, expiring, single-use link. Audited, committed; the address is not stored."""
    key = subject_key(state, subject)
    lock_subject(state, key)
    link = GuardianLink(
        subject=key,
        guardian="",
        status=INVITED,
        email_hash=login_hash(email),
        nonce=secrets.token_urlsafe(24),
        created_by=actor,
    )
    state.db.session.add(link)
    state.db.session.flush()
    state.audit.record("guardian.invite", subject=key, detail={"link": link.id})
    state.db.session.commit()
    token = _serializer().dumps({"l": link.id, "n": link.nonce})
    hours = int(config_value("GUARDIAN_INVITE_HOURS"))
    language = kernel_mail.language_of(subject)
    subject_line, text, html = kernel_mail.render(
        "guardian_invite",
        language,
        child=display_name(state, subject),
        url=url_for("avg_guardians.accept", token=token, _external=True),
        hours=hours,
        contact=config_value("CLUB_CONTACT"),
        organisation_name=config_value("CLUB_NAME"),
    )
    mail = kernel_mail.Mail(
        "guardian",
        None,
        subject_line,
        text,
        event="guardian.invited",
        html=html,
        recipients=[email],
        language=language,
    )
    kernel_mail.deliver(state, mail, subject=key)
    return link


def invitation(state: AvgState, token: str) -> GuardianLink:
    """The open invitation ``token`` names; :class:`InvitationInvalid` when it is forged,
    expired, used, withdrawn or its child erased."""
    max_age = int(config_value("GUARDIAN_INVITE_HOURS")) * 3600
    try:
        data = _serializer().loads(token[:500], max_age=max_age)
    except SignatureExpired:
        raise InvitationInvalid(
            _("This invitation has expired. Ask the board for a new one.")
        ) from None
    except BadSignature:
        raise InvitationInvalid(_("This invitation link is not valid.")) from None
    link_id, nonce = (data.get("l"), data.get("n")) if isinstance(data, dict) else (None, None)
    link = state.db.session.get(GuardianLink, link_id) if isinstance(link_id, int) else None
    if link is None or link.status != INVITED or not nonce or link.nonce != nonce:
        raise InvitationInvalid(_("This invitation has already been used or was withdrawn."))
    child = load_subject(state, link.subject)
    if child is None or state.is_erased(state.registry.subject.name, link.subject):
        raise InvitationInvalid(_("This invitation has already been used or was withdrawn."))
    return link


def accept(state: AvgState, token: str, user: Any) -> GuardianLink:
    """The logged-in ``user`` accepts invitation ``token``: from now on their account is
    the child's guardian. The account's e-mail address must be the invited one.
    Audited, committed; :class:`InvitationInvalid` (nothing changed) otherwise."""
    link = invitation(state, token)
    email = getattr(user, "email", None)
    if not email or login_hash(str(email)) != link.email_hash:
        raise InvitationInvalid(
            _("This invitation was sent to another e-mail address than your account's.")
        )
    account = user_key(user) or ""
    lock_subject(state, link.subject)
    if state.db.session.scalar(
        select(GuardianLink.id).where(
            GuardianLink.subject == link.subject,
            GuardianLink.guardian == account,
            GuardianLink.status == ACTIVE,
        )
    ):
        link.status, link.ended_at, link.end_reason = ENDED, utcnow(), "duplicate"
    else:
        link.guardian, link.status, link.accepted_at = account, ACTIVE, utcnow()
    link.nonce = None
    state.audit.record("guardian.accept", subject=link.subject, detail={"link": link.id})
    state.db.session.commit()
    return link


def unlink(state: AvgState, link: GuardianLink, *, reason: str = "unlinked") -> None:
    """End a guardian link (or withdraw an open invitation); audited, committed."""
    if link.status == ENDED:
        return
    link.status, link.ended_at, link.end_reason, link.nonce = ENDED, utcnow(), reason, None
    state.audit.record(
        "guardian.unlink", subject=link.subject, detail={"link": link.id, "reason": reason}
    )
    state.db.session.commit()


def acted_for(state: AvgState, subject: Any, limit: int = 50) -> list[AuditEntry]:
    """What guardians did for ``subject`` (the audit entries made on their behalf), newest
    first: the member's page shows it."""
    key = subject if isinstance(subject, str) else subject_key(state, subject)
    stmt = (
        select(AuditEntry)
        .where(
            AuditEntry.subject == key,
            AuditEntry.outcome == "ok",
            AuditEntry.detail_json.like('%"on_behalf": "guardian"%'),
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(state.db.session.scalars(stmt))


# -- birthdays ---------------------------------------------------------------------------


@dataclass
class BirthdayResult:
    told: int = 0
    ended: int = 0


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 2, 28)


def birthdays(state: AvgState, day: date | None = None) -> BirthdayResult:
    """The daily run: members who reached the age of consent in the past year are told,
    once, that consent is now theirs; guardians' links end at ``AVG_GUARDIAN_UNTIL_AGE``.
    Commits."""
    day = day or today()
    result = BirthdayResult()
    model = state.registry.subject
    column = model.birth_date_column
    if column is None:
        return result
    age = int(config_value("AGE_OF_CONSENT"))
    pk = model.primary_key[0]
    cls: Any = model.cls
    came_of_age = select(cls).where(
        column <= _years_before(day, age), column > _years_before(day, age + 1)
    )
    for row in state.db.session.scalars(came_of_age.order_by(pk)).all():
        key = subject_key(state, row)
        if state.is_erased(model.name, key):
            continue
        if not kernel_mail.once(state, NOTICE_TOPIC, key, NOTICE_EVENT):
            continue
        if not _tell_of_age(state, row, key):
            kernel_mail.release(state, NOTICE_TOPIC, key, NOTICE_EVENT)
            continue
        state.audit.record("guardian.age_of_consent", subject=key, detail={"age": age})
        state.db.session.commit()
        result.told += 1
    if config_value("GUARDIAN_UNTIL_AGE") is not None:
        links = state.db.session.scalars(
            select(GuardianLink).where(GuardianLink.status.in_((ACTIVE, INVITED)))
        ).all()
        for link in links:
            child = load_subject(state, link.subject)
            if child is not None and not guardian_may_act(state, child, day):
                unlink(state, link, reason="age")
                result.ended += 1
    return result


def _tell_of_age(state: AvgState, subject: Any, key: str) -> bool:
    logins = logins_of(state, [subject_key_typed(state, key)])
    user = account_by_key(state, logins[0]) if logins else None
    address = kernel_mail.address_of(user, subject)
    language = kernel_mail.language_of(user, subject)
    subject_line, text, html = kernel_mail.render(
        "consent_age_reached",
        language,
        member_name=display_name(state, subject),
        age=int(config_value("AGE_OF_CONSENT")),
        contact=config_value("CLUB_CONTACT"),
        organisation_name=config_value("CLUB_NAME"),
    )
    mail = kernel_mail.Mail(
        "member",
        logins[0] if logins else None,
        subject_line,
        text,
        event="guardian.age_of_consent",
        user=user,
        html=html,
        recipients=[address] if address else [],
        language=language,
    )
    return kernel_mail.deliver(state, mail, subject=key)


def subject_key_typed(state: AvgState, key: str) -> Any:
    pk = state.registry.subject.primary_key[0]
    try:
        return pk.type.python_type(key)
    except (TypeError, ValueError, NotImplementedError):
        return key


# -- erasure -----------------------------------------------------------------------------


def erase_links(state: AvgState, session: Any, keys: Any, logins: Any) -> list[Erased]:
    """For subjects being erased (``keys(column)``, ``logins(column)``: clauses on a key
    column): their links as child and as guardian go, open invitations with them."""
    table: Any = GuardianLink.__table__
    gone = session.execute(
        delete(table).where(or_(keys(table.c.subject), logins(table.c.guardian)))
    )
    return [Erased("guardian_links", removed=int(getattr(gone, "rowcount", 0) or 0))]
