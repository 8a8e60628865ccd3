"""Who a login account is, the same way under every login system.

flask-avg stores and compares login accounts by their **primary key** as text
(group memberships, request handlers, audit actors, the erasure ledger), never
by ``get_id()``: Flask-Security's ``get_id()`` is ``fs_uniquifier``, a token
that changes with every password change, and a host may return anything there.
Pages show a person's e-mail address or name, never a key or a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from sqlalchemy import inspect

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: attributes read, in order, for a person's readable name
LABEL_ATTRIBUTES = ("email", "name", "username", "full_name", "display_name")


def user_key(user: Any) -> str | None:
    """The primary key of login account ``user`` as text (None for anonymous users).

    Falls back to ``get_id()`` only for a user object that is not a mapped row.
    """
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    state = inspect(user, raiseerr=False)
    if state is not None and getattr(state, "mapper", None) is not None:
        identity = state.identity
        if identity is None:  # pending: not flushed yet
            identity = state.mapper.primary_key_from_instance(user)
        if identity and identity[0] is not None:
            return "|".join(str(part) for part in identity)
    get_id = getattr(user, "get_id", None)
    found = get_id() if callable(get_id) else None
    return str(found) if found is not None else None


def user_label(user: Any) -> str:
    """A readable name for ``user``: e-mail, name or username; ``#key`` as a last resort."""
    for attr in LABEL_ATTRIBUTES:
        value = getattr(user, attr, None)
        if isinstance(value, str) and value.strip():
            return value
    key = user_key(user)
    return f"#{key}" if key is not None else "?"


def find_user_model(state: AvgState) -> Any:
    """The host's login model: given to ``AVG(user_model=...)``, set later with
    ``avg.user_model = ...``, Flask-Security's datastore's, the subject model when
    members log in themselves, or the model the subject points to that has
    ``get_id`` (Flask-Login's ``UserMixin``). None when none is known.

    Looked up when needed, not at ``init_app``: in an app factory, Flask-Security
    may be initialised after flask-avg.
    """
    if state.ext.user_model is not None:
        return state.ext.user_model
    found = state.__dict__.get("_found_user_model")
    if found is None:
        found = _discover_user_model(state)
        if found is not None:  # models do not change once found; keep it
            state.__dict__["_found_user_model"] = found
    return found


def _discover_user_model(state: AvgState) -> Any:
    if has_app_context():
        security = current_app.extensions.get("security")
        datastore = getattr(security, "datastore", None)
        model = getattr(datastore, "user_model", None)
        if model is not None:
            return model
    subject = state.registry.subject
    if subject.cls is not None and callable(getattr(subject.cls, "get_id", None)):
        return subject.cls
    # the model a member points to that people log in with (``member.user_id``)
    for mapper in state.db.Model.registry.mappers:
        cls = mapper.class_
        if callable(getattr(cls, "get_id", None)) and any(
            fk.column.table is mapper.local_table for fk in subject.table.foreign_keys
        ):
            return cls
    return None


def flask_security(app: Any = None) -> Any:
    """Flask-Security's state on the app, or None when the host does not use it."""
    app = app or (current_app if has_app_context() else None)
    return app.extensions.get("security") if app is not None else None


def check_password(user: Any, password: str) -> bool:
    """Re-check ``user``'s password the way the host's login system does.

    Flask-Security: its own ``verify_password`` (whatever hash scheme it is set
    to). Otherwise a werkzeug hash in ``password_hash`` or ``password``. A host
    with another scheme registers ``@avg.password_checker``.
    """
    if flask_security() is not None:
        from flask_security import verify_password

        stored = getattr(user, "password", None)
        return isinstance(stored, str | bytes) and bool(
            stored and verify_password(password, stored)
        )
    from werkzeug.security import check_password_hash

    for attr in ("password_hash", "password"):
        stored = getattr(user, attr, None)
        if isinstance(stored, str) and stored:
            try:
                return check_password_hash(stored, password)
            except ValueError:  # not a werkzeug hash
                return False
    return False


def host_roles(user: Any) -> Iterable[str]:
    """The names of the host's own roles of ``user`` (``user.roles``, Flask-Security's
    convention: objects with a ``name``, or plain strings)."""
    roles = getattr(user, "roles", None) or ()
    for role in roles:
        name = role if isinstance(role, str) else getattr(role, "name", None)
        if name:
            yield str(name)


def actor_labels(state: AvgState, keys: Iterable[str]) -> dict[str, str]:
    """Readable labels for stored account keys (audit actors, request handlers), in one
    query; keys of accounts that are gone are left out."""
    model: Any = state.user_model
    wanted = {k for k in keys if k}
    if model is None or not wanted:
        return {}
    from sqlalchemy import select

    pk = list(model.__table__.primary_key.columns)[0]
    try:
        typed = {pk.type.python_type(k) for k in wanted}
    except (TypeError, ValueError, NotImplementedError):
        return {}
    users = state.db.session.scalars(select(model).where(pk.in_(typed)))
    return {key: user_label(user) for user in users if (key := user_key(user)) is not None}


def account_by_key(state: AvgState, key: Any) -> Any:
    """The login account whose primary key is ``key`` (as stored: text), or None.

    Flask-Login's user loader is asked only when no login model is known: it takes
    what ``get_id()`` returns, which on many sites is not the key (Flask-Security's
    rotating token, or an id with a session version as in the example club).
    """
    if key is None:
        return None
    model: Any = state.user_model
    table = getattr(model, "__table__", None)
    if table is None:
        manager = getattr(current_app, "login_manager", None)
        loader = getattr(manager, "_user_callback", None)
        return loader(str(key)) if loader is not None else None
    pk = next(iter(table.primary_key.columns))
    try:
        typed = pk.type.python_type(key)
    except (TypeError, ValueError, NotImplementedError):
        return None
    return state.db.session.get(model, typed)
