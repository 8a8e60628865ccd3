"""The erased member's last mail: what was erased, what is kept and why.

The address (and the language) is read before the erasure, since the row that
holds it is gone afterwards; the mail goes after the commit, so it never reports
an erasure that did not happen. A failed send is logged and audited
(``mail.failed``) and never undoes or blocks the erasure. An erasure request
sends its own "completed" mail with the same lines instead (``farewell=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import NoInspectionAvailable

from flask_avg.core import mail as kernel_mail
from flask_avg.core.config import config_value
from flask_avg.core.i18n import localise
from flask_avg.core.logins import logins_of


@dataclass
class Farewell:
    """Who gets the last mail, read before the erasure; no row of them is needed after."""

    login_id: str | None
    user: Any
    address: str
    language: str


def _snapshot(obj: Any) -> Any:
    """A detached copy of a row's columns (the row itself is about to go)."""
    if obj is None:
        return None
    try:
        attrs = sa_inspect(obj).mapper.column_attrs
    except NoInspectionAvailable:
        return obj
    return SimpleNamespace(**{a.key: getattr(obj, a.key) for a in attrs})


def before(state: Any, subject_id: Any) -> Farewell | None:
    """The member's address and language, or None when there is no address."""
    logins = logins_of(state, [subject_id])
    user = kernel_mail.load_user(logins[0]) if logins else None
    model = state.registry.subject
    member = state.db.session.get(model.cls, subject_id) if model.cls is not None else None
    address = kernel_mail.address_of(user, member)
    if not address:
        return None
    language = kernel_mail.language_of(user, member)
    return Farewell(logins[0] if logins else None, _snapshot(user), address, language)


def send(state: Any, farewell: Farewell, result: Any, reason: str) -> bool:
    """The last mail, with the erasure's removed, anonymised and retained lines."""
    labels = {**state.plugins.labels(), **{m.name: m.label for m in state.registry}}

    def label(name: str) -> Any:
        return localise(labels.get(name, name))

    subject, text, html = kernel_mail.render(
        "erased",
        farewell.language,
        result=result,
        label=label,
        reason=reason,
        organisation_name=config_value("CLUB_NAME"),
        contact=config_value("CLUB_CONTACT"),
    )
    mail = kernel_mail.Mail(
        "member",
        farewell.login_id,
        subject,
        text,
        None,
        "erased",
        farewell.user,
        html=html,
        recipients=[farewell.address],
        language=farewell.language,
    )
    return kernel_mail.deliver(state, mail, subject=result.subject_id)
