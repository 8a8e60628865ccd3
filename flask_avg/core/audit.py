"""The audit log core: append-only records of who did what to whose data.

Entries hold the actor's account key (primary key, never a token), an action name, the subject's key, the
model and the *names* of the fields involved, and a small detail dict of
counts and reasons. Never the personal values themselves: an audit log that
copies personal data becomes a second place to erase it from.

Logins are recorded through :meth:`AuditLog.login_failed` and
:meth:`AuditLog.login_succeeded`, which a host calls from its own login view: a
failed attempt names the account by its key, or an unknown address by a keyed
hash (never the address typed), so repeated attempts can be told apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from flask import current_app, has_request_context, request
from flask_login import current_user
from sqlalchemy import insert
from sqlalchemy.orm import Session

from flask_avg.core.config import config_value
from flask_avg.core.identity import user_key
from flask_avg.core.models import AuditEntry
from flask_avg.core.signals import audit_recorded
from flask_avg.core.subjects import acting_for
from flask_avg.core.types import utcnow

_SAFE_DETAIL = (int, float, bool, type(None), date, datetime)
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def login_hash(login: str) -> str:
    """A short keyed hash of a typed login (an e-mail address): the same address gives
    the same hash in one app, and nobody without the app's secret key can test guesses."""
    key = str(current_app.config.get("SECRET_KEY") or "").encode()
    digest = hmac.new(key, login.strip().lower().encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def current_actor() -> str | None:
    """The logged-in user's account key, or None outside a request or when anonymous."""
    if not has_request_context():
        return None
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user_key(user)


def _check_detail(detail: dict[str, Any]) -> str | None:
    """Serialise ``detail``; values must be numbers, dates, short codes or lists of them."""
    if not detail:
        return None

    def ok(value: Any) -> bool:
        if isinstance(value, _SAFE_DETAIL):
            return True
        if isinstance(value, str):
            return len(value) <= 200
        if isinstance(value, list | tuple):
            return all(ok(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and ok(v) for k, v in value.items())
        return False

    for key, value in detail.items():
        if not ok(value):
            raise ValueError(f"audit detail {key!r} must be counts, dates or short codes")
    return json.dumps(detail, sort_keys=True, default=str)


class AuditLog:
    def __init__(self, session_factory: Any, engine_factory: Any) -> None:
        self._session = session_factory
        self._engine = engine_factory

    @property
    def session(self) -> Session:
        return self._session()  # type: ignore[no-any-return]

    def _values(
        self,
        action: str,
        *,
        subject: Any,
        model: str | None,
        fields: Iterable[str] | None,
        outcome: str,
        detail: dict[str, Any] | None,
        actor: str | None,
    ) -> dict[str, Any]:
        ip = None
        if has_request_context() and config_value("AUDIT_IP"):
            ip = request.remote_addr
        acting = acting_for()
        if acting is not None and subject is not None and str(subject) == acting["subject"]:
            # who acted on whose behalf: the actor is the guardian, the subject the child
            detail = {**(detail or {}), "on_behalf": acting["role"]}
        return {
            "at": utcnow(),
            "actor": actor if actor is not None else current_actor(),
            "action": action,
            "outcome": outcome,
            "subject": None if subject is None else str(subject),
            "model": model,
            "fields": ",".join(sorted(fields)) if fields else None,
            "detail_json": _check_detail(detail or {}),
            "ip": ip,
        }

    def record(
        self,
        action: str,
        *,
        subject: Any = None,
        model: str | None = None,
        fields: Iterable[str] | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
        outcome: str = "ok",
    ) -> AuditEntry:
        """Add an entry to the current transaction: it commits with the change it records."""
        entry = AuditEntry(
            **self._values(
                action,
                subject=subject,
                model=model,
                fields=fields,
                outcome=outcome,
                detail=detail,
                actor=actor,
            )
        )
        self.session.add(entry)
        audit_recorded.send(current_app._get_current_object(), entry=entry)  # type: ignore[attr-defined]
        return entry

    def login_failed(
        self, *, user: Any = None, login: str | None = None, reason: str = "wrong_password"
    ) -> None:
        """Record a failed login, in a transaction of its own (call it from the host's
        login view). ``user`` is the account when the address was known, ``login`` what
        was typed otherwise: only its :func:`login_hash` is kept. ``reason`` is a short
        code: ``unknown_account``, ``wrong_password``, ``inactive``, ``throttled``, ...
        """
        if not _REASON.match(reason):
            raise ValueError("a login failure's reason is a short code such as 'wrong_password'")
        detail: dict[str, Any] = {"reason": reason}
        key = user_key(user) if user is not None else None
        if key is not None:
            detail["account"] = key
        elif login:
            detail["login_hash"] = login_hash(login)
        self.denied("login.failed", detail=detail, actor=None)

    def login_succeeded(self, user: Any) -> None:
        """Record a successful login of ``user``, in a transaction of its own."""
        values = self._values(
            "login.succeeded",
            subject=None,
            model=None,
            fields=None,
            outcome="ok",
            detail=None,
            actor=user_key(user),
        )
        with self._engine().begin() as conn:
            conn.execute(insert(AuditEntry.__table__), values)  # type: ignore[arg-type]

    def denied(
        self,
        action: str,
        *,
        subject: Any = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Record a refused attempt in a transaction of its own.

        The request that was refused is about to be rolled back; its denial
        must still be kept (seed 004, annex 2: logging of access attempts).
        """
        values = self._values(
            action,
            subject=subject,
            model=None,
            fields=None,
            outcome="denied",
            detail=detail,
            actor=actor,
        )
        with self._engine().begin() as conn:
            conn.execute(insert(AuditEntry.__table__), values)  # type: ignore[arg-type]
