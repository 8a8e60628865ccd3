"""Consent per purpose (Art. 7): declared purposes, provable answers, re-asking, expiry.

A purpose is declared in code (``avg.consent_purpose("newsletter", label, text,
version)``) or added by the board. Every answer is a :class:`ConsentRecord`
holding the text's version label and SHA-256 hash, how it was given and by
whom it was recorded; the member's latest answer is kept in
:class:`ConsentState`. Nobody has consented until they say so (opt-in, Art. 25).
When a purpose's text changes its hash changes, and members who agreed to the
old text are asked again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_request_context, request
from markupsafe import escape
from sqlalchemy import ColumnElement, String, and_, case, cast, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flask_avg.core.config import config_value
from flask_avg.core.converters import MAX_DAYS
from flask_avg.core.i18n import gettext, localise
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.plugins import Erased
from flask_avg.core.purposes import Purpose, canonical_text
from flask_avg.core.signals import consent_changed, consent_expiring
from flask_avg.core.subjects import check_consent, lock_subject
from flask_avg.core.types import utcnow
from flask_avg.features.consent.models import (
    ConsentPurposeRow,
    ConsentRecord,
    ConsentState,
    ConsentText,
)

#: How an answer reached us.
METHODS: dict[str, Any] = {
    "self_service": _l("By the %(subject)s on the website"),
    "signup_form": _l("On the sign-up form"),
    "paper": _l("On paper, recorded by a board member"),
}


@dataclass
class PurposeCounts:
    purpose: Purpose
    current: int = 0
    outdated: int = 0
    withdrawn: int = 0
    expired: int = 0


class _HostText:
    """A declared host text (plain, lazy or ``{"nl", "en"}``) shown in the page's
    language; its canonical form (what a consent's hash is taken of) is the English one."""

    def __init__(self, value: Any, canonical: str) -> None:
        self.value = value
        self._args = (canonical,)  # read by canonical_text(), like a lazy string's msgid

    def __str__(self) -> str:
        return str(localise(self.value))

    def __html__(self) -> str:
        return str(escape(str(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _HostText) and other._args == self._args

    def __hash__(self) -> int:
        return hash(self._args)


class _DeclaredText(_HostText):
    """The consent text of a declared purpose: what is kept, and that withdrawing removes it."""

    def __init__(self, fields: list[tuple[Any, str]]) -> None:
        self.fields = fields
        english = ", ".join(name for _label, name in fields)
        super().__init__(None, f"{DECLARED_TEXT} [{english}]")

    def __str__(self) -> str:
        names = ", ".join(str(localise(label)) for label, _name in self.fields)
        return str(gettext(DECLARED_TEXT, fields=names))


#: the text of a consent for a declared purpose (Art. 6(1)(a) on the column)
DECLARED_TEXT = (
    "We keep and use these data for this purpose only with your consent: %(fields)s."
    " If you withdraw it, we remove them."
)
_l_declared = _l(
    "We keep and use these data for this purpose only with your consent: %(fields)s."
    " If you withdraw it, we remove them."
)
#: key prefix of the consent purposes made from declared data purposes
DECLARED_PREFIX = "data-"


def declared_key(purpose: Any) -> str:
    """The consent key of a declared data purpose: ``data-first-aid-during-training``."""
    args = getattr(purpose, "_args", None)
    if isinstance(purpose, dict):
        text = str(purpose.get("en") or next(iter(purpose.values()), ""))
    elif args and isinstance(args[0], str):
        text = args[0]
    else:
        text = str(purpose)
    slug = "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
    return (DECLARED_PREFIX + slug)[:64].rstrip("-")


def declared_columns(state: Any) -> dict[str, tuple[Any, list[tuple[Any, str]]]]:
    """Declared purposes whose legal basis is consent: key -> (purpose, [(model, column)])."""
    found: dict[str, tuple[Any, list[tuple[Any, str]]]] = {}
    for model in state.registry:
        for name, spec in model.columns.items():
            if spec.basis == "consent" and spec.purpose:
                entry = found.setdefault(declared_key(spec.purpose), (spec.purpose, []))
                entry[1].append((model, name))
    return found


def declared_purposes(state: Any) -> dict[str, Purpose]:
    """The declared data purposes based on consent (``personal(..., basis="consent")``),
    as purposes a member gives and withdraws like any other; withdrawing one removes
    the member's values of its columns (see :func:`record`)."""
    out: dict[str, Purpose] = {}
    for key, (purpose, columns) in declared_columns(state).items():
        fields = [
            (model.columns[name].label or name, _english(model.columns[name].label) or name)
            for model, name in columns
        ]
        out[key] = Purpose(
            key,
            _HostText(purpose, _english(purpose)),
            _DeclaredText(fields),
            "declared",
            source="declared",
        )
    return out


def _english(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), ""))
    args = getattr(value, "_args", None)
    if args and isinstance(args[0], str):
        return args[0]
    return "" if value is None else str(value)


def _clear_declared(state: Any, subject: str, key: str) -> int:
    """Remove the member's values of a consent-based declared purpose's nullable
    columns (consent withdrawn, Art. 17(1)(b)); returns the number of columns cleared."""
    found = declared_columns(state).get(key)
    if found is None:
        return 0
    model = state.registry.subject
    key_type = model.primary_key[0].type.python_type
    try:
        typed = key_type(subject)
    except (TypeError, ValueError):
        return 0
    cleared = 0
    by_model: dict[Any, list[str]] = {}
    for owner, name in found[1]:
        if owner.table.c[name].nullable:
            by_model.setdefault(owner, []).append(name)
    for owner, names in by_model.items():
        own = state.resolver.ownership(owner, [typed])
        state.db.session.execute(
            update(owner.table).where(own).values({name: None for name in names})
        )
        cleared += len(names)
        state.audit.record(
            "consent.data_removed",
            subject=subject,
            model=owner.name,
            fields=names,
            detail={"purpose": key},
        )
    return cleared


def purposes(state: Any, *, inactive: bool = False, declared: bool = False) -> dict[str, Purpose]:
    """Every purpose: the code's first, then the board's, in key order; with
    ``declared`` also the declared data purposes based on consent
    (:func:`declared_purposes`, listed in the register as activities already)."""
    found = dict(state.ext._consent_purposes)
    stmt = select(ConsentPurposeRow).order_by(ConsentPurposeRow.key)
    if not inactive:
        stmt = stmt.where(ConsentPurposeRow.active.is_(True))
    for row in state.db.session.scalars(stmt):
        if row.key not in found:
            found[row.key] = Purpose(
                row.key, row.label, row.text, row.version, row.expires_days, source="board"
            )
    if declared:
        for key, purpose in declared_purposes(state).items():
            found.setdefault(key, purpose)
    return found


def get_purpose(state: Any, key: str, *, inactive: bool = False) -> Purpose:
    """A purpose by key; ``KeyError`` for a typo. Retired board purposes only with ``inactive``."""
    try:
        return purposes(state, inactive=inactive, declared=True)[key]
    except KeyError:
        raise KeyError(f"unknown consent purpose {key!r}") from None


def subject_key(state: Any, member: Any) -> str:
    """A member object or key, as the text key flask-avg's tables use."""
    subject = state.registry.subject
    if subject.cls is not None and isinstance(member, subject.cls):
        return str(subject.value(member, subject.primary_key[0].name))
    return str(member)


def record(
    state: Any,
    member: Any,
    key: str,
    *,
    given: bool,
    method: str = "self_service",
    recorded_by: str | None = None,
) -> ConsentRecord:
    """Store an answer in the caller's transaction, audited; the caller commits.

    Locks the member's row until the caller's transaction ends; raises
    :class:`~flask_avg.core.subjects.SubjectErased` (storing nothing) when the
    member has been erased.
    """
    if method not in METHODS:
        raise ValueError(f"unknown consent method {method!r} (known: {', '.join(METHODS)})")
    if method == "paper" and not recorded_by:
        raise ValueError("a consent from a paper form needs recorded_by (the board member)")
    purpose = get_purpose(state, key)
    session: Session = state.db.session
    subject = subject_key(state, member)
    check_consent(state, subject, key, method)  # a child below the age of consent: refused
    lock_subject(state, subject)
    now = utcnow()
    digest = purpose.text_hash
    if session.get(ConsentText, (key, digest)) is None:
        try:
            with session.begin_nested():
                session.add(
                    ConsentText(
                        purpose=key,
                        text_hash=digest,
                        version=purpose.version,
                        text=canonical_text(purpose.text),
                    )
                )
        except IntegrityError:
            pass  # another member's answer to the same text stored it just now
    ip = None
    if has_request_context() and method == "self_service" and config_value("CONSENT_RECORD_IP"):
        ip = request.remote_addr
    # a period stored by older code may be past what a date holds: capped at 100 years
    days = min(purpose.expires_days or 0, MAX_DAYS)
    expires = now + timedelta(days=days) if given and days else None
    rec = ConsentRecord(
        subject=subject,
        purpose=key,
        given=given,
        at=now,
        version=purpose.version,
        text_hash=digest,
        method=method,
        recorded_by=recorded_by,
        ip=ip,
        expires_at=expires,
    )
    session.add(rec)
    session.flush()
    current = session.get(ConsentState, (subject, key))
    if current is None:
        current = ConsentState(subject=subject, purpose=key)
        session.add(current)
    current.given = given
    current.at = now
    current.version = purpose.version
    current.text_hash = digest
    current.record_id = rec.id
    current.expires_at = expires
    current.reminded_at = None
    state.audit.record(
        "consent.give" if given else "consent.withdraw",
        subject=subject,
        detail={"purpose": key, "version": purpose.version, "method": method},
    )
    if not given and purpose.source == "declared":
        _clear_declared(state, subject, key)
    consent_changed.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        subject_id=subject,
        purpose=key,
        given=given,
        record=rec,
    )
    return rec


def answer(
    state: Any,
    member: Any,
    key: str,
    *,
    given: bool,
    method: str = "self_service",
    recorded_by: str | None = None,
) -> ConsentRecord:
    """:func:`record` an answer and commit it: what the consent pages do.

    Raises :class:`~flask_avg.core.subjects.SubjectErased` (storing nothing)
    when the member has been erased.
    """
    rec = record(state, member, key, given=given, method=method, recorded_by=recorded_by)
    state.db.session.commit()
    return rec


class PurposeExists(Exception):
    """A new board purpose's key is already taken (by the code or the board)."""


@dataclass
class PurposeInput:
    """What the board fills in for a purpose of its own."""

    label: str
    text: str
    version: str
    expires_days: int | None = None
    active: bool = True


def save_purpose(
    state: Any,
    key: str,
    values: PurposeInput,
    *,
    row: ConsentPurposeRow | None = None,
    actor: str | None = None,
) -> ConsentPurposeRow:
    """Add the board purpose ``key`` (``row`` None) or change ``row``; audited, committed.

    Raises :class:`PurposeExists` (nothing changed) when a new purpose's key is taken.
    """
    if row is None and key in purposes(state, inactive=True, declared=True):
        raise PurposeExists(key)
    if row is None:
        row = ConsentPurposeRow(key=key)
        state.db.session.add(row)
    changed = row.text != values.text
    row.label = values.label
    row.text = values.text
    row.version = values.version
    row.expires_days = values.expires_days
    row.active = values.active
    row.updated_by = actor
    state.audit.record(
        "consent.purpose.save",
        detail={"purpose": row.key, "version": row.version, "text_changed": changed},
    )
    state.db.session.commit()
    return row


def inactive_purposes(state: Any) -> list[ConsentPurposeRow]:
    """The board's purposes no longer in use, in key order."""
    rows = state.db.session.scalars(select(ConsentPurposeRow).order_by(ConsentPurposeRow.key))
    return [row for row in rows if not row.active]


def history(state: Any, member: Any) -> list[ConsentRecord]:
    """Every answer of ``member``, newest first, for the board; audited, committed."""
    key = subject_key(state, member)
    rows = state.db.session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.subject == key)
        .order_by(ConsentRecord.at.desc(), ConsentRecord.id.desc())
    ).all()
    state.audit.record("consent.view", subject=key)
    state.db.session.commit()
    return list(rows)


def states_for(state: Any, member: Any) -> dict[str, ConsentState]:
    subject = subject_key(state, member)
    rows = state.db.session.scalars(select(ConsentState).where(ConsentState.subject == subject))
    return {row.purpose: row for row in rows}


def is_valid(row: ConsentState | None, now: datetime) -> bool:
    return bool(row and row.given and (row.expires_at is None or row.expires_at > now))


def has_consent(state: Any, member: Any, key: str, *, current_version: bool = False) -> bool:
    """Whether ``member`` agreed to ``key`` and has not withdrawn it (nor let it expire).

    With ``current_version=True`` only agreement to the purpose's current text counts.
    """
    purpose = get_purpose(state, key, inactive=True)
    row = state.db.session.get(ConsentState, (subject_key(state, member), key))
    if current_version and row is not None and row.text_hash != purpose.text_hash:
        return False
    return is_valid(row, utcnow())


def consent_filter(state: Any, key: str, *, current_version: bool = False) -> ColumnElement[bool]:
    """A WHERE clause on the subject model: ``select(Member).where(avg.consent_filter("x"))``."""
    purpose = get_purpose(state, key, inactive=True)
    subject_col = state.registry.subject.primary_key[0]
    consenting = ConsentState.subject
    key_col: Any = consenting if isinstance(subject_col.type, String) else None
    if key_col is None:
        key_col = cast(consenting, subject_col.type)
    conditions = [
        ConsentState.purpose == key,
        ConsentState.given.is_(True),
        or_(ConsentState.expires_at.is_(None), ConsentState.expires_at > utcnow()),
    ]
    if current_version:
        conditions.append(ConsentState.text_hash == purpose.text_hash)
    return subject_col.in_(select(key_col).where(*conditions))  # type: ignore[no-any-return]


def outdated_for(state: Any, member: Any) -> list[Purpose]:
    """Purposes whose text changed since the member agreed: ask them again."""
    known = purposes(state, declared=True)
    return [
        known[row.purpose]
        for row in states_for(state, member).values()
        if row.given and row.purpose in known and row.text_hash != known[row.purpose].text_hash
    ]


def counts(state: Any) -> list[PurposeCounts]:
    """Per purpose: agreed to the current text, to an older text, withdrawn, expired."""
    known = purposes(state)
    result = {key: PurposeCounts(p) for key, p in known.items()}
    now = utcnow()
    expired = and_(ConsentState.expires_at.is_not(None), ConsentState.expires_at <= now)
    rows = state.db.session.execute(
        select(
            ConsentState.purpose,
            ConsentState.given,
            ConsentState.text_hash,
            func.count(),
            func.sum(case((expired, 1), else_=0)),
        ).group_by(ConsentState.purpose, ConsentState.given, ConsentState.text_hash)
    )
    for key, given, digest, n, n_expired in rows:
        bucket = result.get(key)
        if bucket is None:
            continue
        n_expired = int(n_expired or 0)
        if not given:
            bucket.withdrawn += n
            continue
        bucket.expired += n_expired
        if digest == bucket.purpose.text_hash:
            bucket.current += n - n_expired
        else:
            bucket.outdated += n - n_expired
    return list(result.values())


def send_expiry_reminders(state: Any, within_days: int = 30) -> int:
    """Send ``consent_expiring`` once for each consent expiring within ``within_days``.

    Returns how many reminders were sent; the caller commits.
    """
    now = utcnow()
    rows = list(
        state.db.session.scalars(
            select(ConsentState).where(
                ConsentState.given.is_(True),
                ConsentState.reminded_at.is_(None),
                ConsentState.expires_at > now,
                ConsentState.expires_at <= now + timedelta(days=within_days),
            )
        )
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for row in rows:
        consent_expiring.send(
            app, subject_id=row.subject, purpose=row.purpose, expires_at=row.expires_at
        )
        row.reminded_at = now
    if rows:
        state.audit.record("consent.reminders", detail={"sent": len(rows)})
    return len(rows)


def forget(state: Any, member: Any) -> int:
    """Erase one member's consent data now (as an erasure does); the caller commits.

    Returns the number of current answers removed.
    """
    subject = subject_key(state, member)
    count = erase_keys(state.db.session, lambda col: col == subject)[0].removed
    state.audit.record("consent.forget", subject=subject, detail={"removed": count})
    return count


def erase_keys(session: Session, mine: Callable[[Any], Any]) -> list[Erased]:
    """For subjects being erased (``mine(column)``: the clause selecting their rows by
    a key column): drop their current answers and the IP addresses kept.

    The answers themselves (when, which text, how) stay as proof that consent
    was given (Art. 7(1)), keyed by the member's former key only.
    """
    states: Any = ConsentState.__table__
    records: Any = ConsentRecord.__table__
    removed = session.execute(delete(states).where(mine(states.c.subject)))
    blanked = session.execute(
        update(records).where(mine(records.c.subject), records.c.ip.is_not(None)).values(ip=None)
    )
    return [
        Erased("consent", removed=int(getattr(removed, "rowcount", 0) or 0)),
        Erased("consent_records", anonymised=int(getattr(blanked, "rowcount", 0) or 0)),
    ]
