"""Requests from people without an account (Art. 12(2), (6)): proven by e-mail, never by
knowing an address.

1. :func:`submit`: anyone fills in the public form. Nothing is looked up about the
   address: the same statements run and the same mail goes out (a signed,
   single-use, expiring verification link) whether or not it belongs to anyone,
   so the page cannot tell who is a member. Submissions are limited per address
   and per client (keyed hashes counted in this table, within a day).
2. :func:`verify`: the link's owner confirms. The address is matched to subjects
   by the subject model's declared e-mail columns; erasure, correction and
   objection requests are filed in the board's queue marked "identity: e-mail
   verified"; an access request is answered with the export behind an expiring,
   single-use download link (never an attachment), stored privately.
3. The board sees the requests and can ask for more proof.

Erasing a subject, by any route, removes the public requests matched to them and
their export files; the purge removes stale verifications and expired files.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import case, func, or_, select

from flask_avg.core import mail as kernel_mail
from flask_avg.core.audit import login_hash
from flask_avg.core.config import config_value
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.plugins import Erased
from flask_avg.core.types import utcnow
from flask_avg.features.public_requests.models import (
    DONE,
    PENDING,
    PROOF_ASKED,
    VERIFIED,
    PublicRequest,
)

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

ACCESS = "access"
#: what the public form offers: the request kinds (the requests feature's names) and access
KINDS: dict[str, Any] = {
    ACCESS: _l("A copy of all data you hold on me (access)"),
    "erasure": _l("Erase my data"),
    "correction": _l("Correct my data"),
    "objection": _l("I object to a use of my data"),
}
#: what identity check a request filed from the public page had
IDENTITY_CHECK = "email_verified"
_VERIFY_SALT = "flask-avg.public-verify"
_DOWNLOAD_SALT = "flask-avg.public-download"
MESSAGE_LIMIT = 2000


class LinkInvalid(Exception):
    """A verification or download link that does not work (any more); ``str(exc)`` says why."""


@dataclass
class Submitted:
    """What :func:`submit` did: ``accepted`` False when a rate limit refused it."""

    accepted: bool


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def client_hash() -> str:
    """A keyed hash of the client's address, for the per-client limit (never the IP itself)."""
    return login_hash("client:" + (request.remote_addr or ""))


def within_limits(state: AvgState, email_hash: str, client: str) -> bool:
    """Fewer than ``AVG_PUBLIC_REQUEST_LIMIT`` submissions for the address, and fewer than
    ``AVG_PUBLIC_CLIENT_LIMIT`` from the client, in the past 24 hours (one statement)."""
    since = utcnow() - timedelta(days=1)
    by_address, by_client = state.db.session.execute(
        select(
            func.coalesce(func.sum(case((PublicRequest.email_hash == email_hash, 1), else_=0)), 0),
            func.coalesce(func.sum(case((PublicRequest.client_hash == client, 1), else_=0)), 0),
        ).where(
            PublicRequest.created_at >= since,
            or_(PublicRequest.email_hash == email_hash, PublicRequest.client_hash == client),
        )
    ).one()
    return int(by_address) < int(config_value("PUBLIC_REQUEST_LIMIT")) and int(by_client) < int(
        config_value("PUBLIC_CLIENT_LIMIT")
    )


def submit(
    state: AvgState,
    email: str,
    kind: str,
    *,
    language: str,
    purpose: str | None = None,
    field: str | None = None,
    message: str | None = None,
) -> Submitted:
    """Store a request and mail its verification link; the same work for every address.

    Commits. Returns ``Submitted(False)`` (nothing stored, nothing sent) over a limit.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown public request kind {kind!r}")
    email = email.strip()
    hashed = login_hash(email)
    client = client_hash()
    if not within_limits(state, hashed, client):
        state.audit.denied("public.request", detail={"reason": "throttled", "kind": kind})
        return Submitted(False)
    row = PublicRequest(
        kind=kind,
        status=PENDING,
        email=email,
        email_hash=hashed,
        client_hash=client,
        language=language,
        purpose=purpose if kind == "objection" else None,
        field=field if kind == "correction" else None,
        message=(message or "")[:MESSAGE_LIMIT] or None,
        nonce=secrets.token_urlsafe(24),
    )
    session = state.db.session
    session.add(row)
    session.flush()
    state.audit.record("public.request", detail={"request": row.id, "kind": kind})
    session.commit()
    token = _serializer(_VERIFY_SALT).dumps({"r": row.id, "n": row.nonce})
    _mail(
        state,
        row,
        "public_verify",
        "public.verify",
        url=url_for("avg_public.verify", token=token, _external=True),
        hours=int(config_value("PUBLIC_VERIFY_HOURS")),
    )
    return Submitted(True)


def _mail(state: AvgState, row: PublicRequest, template: str, event: str, **context: Any) -> bool:
    language = row.language or str(config_value("DEFAULT_LOCALE"))
    subject_line, text, html = kernel_mail.render(
        template,
        language,
        kind_label=KINDS.get(row.kind, row.kind),
        contact=config_value("CLUB_CONTACT"),
        organisation_name=config_value("CLUB_NAME"),
        **context,
    )
    mail = kernel_mail.Mail(
        "requester",
        None,
        subject_line,
        text,
        event=event,
        html=html,
        recipients=[row.email] if row.email else [],
        language=language,
    )
    return kernel_mail.deliver(state, mail)


def _load(state: AvgState, token: str, salt: str, hours: int) -> tuple[PublicRequest, str]:
    try:
        data = _serializer(salt).loads(token[:500], max_age=hours * 3600)
    except SignatureExpired:
        raise LinkInvalid(_("This link has expired. You can file the request again.")) from None
    except BadSignature:
        raise LinkInvalid(_("This link is not valid.")) from None
    rid, nonce = (data.get("r"), data.get("n")) if isinstance(data, dict) else (None, None)
    row = state.db.session.get(PublicRequest, rid) if isinstance(rid, int) else None
    if row is None or not isinstance(nonce, str):
        raise LinkInvalid(_("This link has already been used or no longer works."))
    return row, nonce


def pending(state: AvgState, token: str) -> PublicRequest:
    """The request a verification link names, still to be confirmed; :class:`LinkInvalid`."""
    row, nonce = _load(state, token, _VERIFY_SALT, int(config_value("PUBLIC_VERIFY_HOURS")))
    if row.status != PENDING or row.nonce != nonce:
        raise LinkInvalid(_("This link has already been used or no longer works."))
    return row


def email_columns(state: AvgState) -> list[Any]:
    """The subject model's declared e-mail columns (a personal column named like ``email``
    or declared with ``personal(..., format="email")``)."""
    model = state.registry.subject
    return [
        model.table.c[name]
        for name in model.columns
        if model.table.c[name].info.get("format") == "email"
        or "email" in name.lower().replace("-", "")
    ]


def match(state: AvgState, email: str) -> list[str]:
    """Keys (text) of the subjects whose declared e-mail column holds ``email``, erased
    ones left out."""
    model = state.registry.subject
    columns = email_columns(state)
    if not columns or not email:
        return []
    pk = model.primary_key[0]
    wanted = email.strip().lower()
    keys = state.db.session.scalars(
        select(pk).where(or_(*(func.lower(c) == wanted for c in columns))).order_by(pk)
    ).all()
    return [str(k) for k in keys if not state.is_erased(model.name, k)][:20]


def verify(state: AvgState, token: str) -> PublicRequest:
    """Confirm the request behind ``token`` (once): match, file or answer it. Commits."""
    from flask_avg.features.requests import service as reqs

    row = pending(state, token)
    row.nonce, row.status, row.verified_at = None, VERIFIED, utcnow()
    keys = match(state, row.email or "")
    row.subjects = ",".join(keys) or None
    filed: list[str] = []
    if row.kind != ACCESS:
        for key in keys:
            try:
                req = _file(reqs, state, key, row)
            except reqs.RequestError:
                continue  # one of this kind is open already: the board has it
            filed.append(str(req.id))
        row.requests = ",".join(filed) or None
    state.audit.record(
        "public.verified",
        detail={"request": row.id, "kind": row.kind, "matched": len(keys), "filed": len(filed)},
    )
    state.db.session.commit()
    if row.kind == ACCESS:
        answer_access(state, row, keys)
    elif not keys:
        _mail(state, row, "public_nothing_found", "public.nothing_found")
    return row


def _file(reqs: Any, state: AvgState, key: str, row: PublicRequest) -> Any:
    """File the request for subject ``key`` in the board's queue, marked e-mail verified."""
    args: dict[str, Any] = {
        "user_id": None,
        "purpose": row.purpose or "direct_marketing" if row.kind == "objection" else None,
        "field": row.field or "?" if row.kind == "correction" else None,
        "message": row.message,
    }
    return reqs.file_request(state, key, row.kind, identity_check=IDENTITY_CHECK, **args)


def export_dir() -> Path:
    """Where access exports wait for their download: ``AVG_PUBLIC_EXPORT_DIR`` or the app's
    instance folder, never a static folder."""
    configured = config_value("PUBLIC_EXPORT_DIR")
    folder = Path(configured) if configured else Path(current_app.instance_path) / "avg-exports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def answer_access(state: AvgState, row: PublicRequest, keys: list[str]) -> None:
    """Export the (first) matched subject's data to a private file and mail a single-use,
    expiring download link; with no match, say so. Commits."""
    from flask_avg.features.export import service as exports

    if not keys:
        _mail(state, row, "public_nothing_found", "public.nothing_found")
        return
    model = state.registry.subject
    subject = state.db.session.get(model.cls, model.primary_key[0].type.python_type(keys[0]))
    name = secrets.token_hex(16) + ".json"
    path = export_dir() / name
    with open(path, "wb") as out:
        os.chmod(path, 0o600)
        exports.export_subject(
            state,
            subject,
            "json",
            out,
            special=False,
            actor=None,
            requester=row.email,
            action="public.export",
        )
    row.download_nonce = secrets.token_urlsafe(24)
    row.download_file = name
    hours = int(config_value("EXPORT_EXPIRES_HOURS"))
    row.download_expires = utcnow() + timedelta(hours=hours)
    state.db.session.commit()
    token = _serializer(_DOWNLOAD_SALT).dumps({"r": row.id, "n": row.download_nonce})
    _mail(
        state,
        row,
        "public_access_ready",
        "public.access_ready",
        url=url_for("avg_public.download", token=token, _external=True),
        hours=hours,
    )


def downloadable(state: AvgState, token: str) -> PublicRequest:
    """The request whose export ``token`` may still fetch; :class:`LinkInvalid` otherwise."""
    row, nonce = _load(state, token, _DOWNLOAD_SALT, int(config_value("EXPORT_EXPIRES_HOURS")))
    expires = row.download_expires
    if row.download_nonce != nonce or not row.download_file or expires is None:
        raise LinkInvalid(_("This link has already been used or no longer works."))
    if expires <= utcnow():
        raise LinkInvalid(_("This link has expired. You can file the request again."))
    return row


def take_download(state: AvgState, token: str) -> bytes:
    """The export's bytes, once: the link and the file are gone afterwards. Commits."""
    row = downloadable(state, token)
    path = export_dir() / str(row.download_file)
    try:
        data = path.read_bytes()
    except OSError:
        raise LinkInvalid(_("This link has already been used or no longer works.")) from None
    _drop_file(row)
    row.status, row.done_at, row.email = DONE, utcnow(), None
    state.audit.record("public.downloaded", detail={"request": row.id})
    state.db.session.commit()
    return data


def _drop_file(row: PublicRequest) -> None:
    if row.download_file:
        try:
            (export_dir() / row.download_file).unlink(missing_ok=True)
        except OSError:
            current_app.logger.warning("flask-avg: could not remove a public export file")
    row.download_file, row.download_nonce, row.download_expires = None, None, None


def ask_more_proof(state: AvgState, row: PublicRequest, *, note: str) -> bool:
    """The board asks the requester for more proof of identity (before acting on special
    categories, say); audited, committed. False when the address is gone."""
    if not row.email:
        return False
    row.status = PROOF_ASKED
    state.audit.record("public.proof_asked", detail={"request": row.id})
    state.db.session.commit()
    return _mail(state, row, "public_more_proof", "public.proof_asked", note=note)


def board_list(state: AvgState) -> list[PublicRequest]:
    """Verified requests, newest first, for the board (pending ones prove nothing yet)."""
    return list(
        state.db.session.scalars(
            select(PublicRequest)
            .where(PublicRequest.status != PENDING)
            .order_by(PublicRequest.id.desc())
            .limit(200)
        )
    )


# -- lifecycle ---------------------------------------------------------------------------


def erase(state: AvgState, session: Any, keys: list[str]) -> list[Erased]:
    """Public requests matched to subjects being erased go, with their export files and
    links. Read in Python: there are few public requests, and their keys are a list."""
    wanted = set(keys)
    rows = session.scalars(select(PublicRequest).where(PublicRequest.subjects.is_not(None))).all()
    removed = 0
    for row in rows:
        if wanted & set((row.subjects or "").split(",")):
            _drop_file(row)
            session.delete(row)
            removed += 1
    return [Erased("public_requests", removed=removed)]


def purge(state: AvgState, session: Any, now: datetime, audit_cutoff: datetime | None) -> int:
    """Stale verifications and expired downloads go; done requests after the audit log's
    retention."""
    stale = now - timedelta(hours=int(config_value("PUBLIC_VERIFY_HOURS")))
    gone = 0
    for row in session.scalars(select(PublicRequest)).all():
        expired = row.download_expires is not None and row.download_expires <= now
        if expired:
            _drop_file(row)
            row.email = None
        if (row.status == PENDING and row.created_at < stale) or (
            audit_cutoff is not None and row.created_at < audit_cutoff
        ):
            _drop_file(row)
            session.delete(row)
            gone += 1
    return gone
