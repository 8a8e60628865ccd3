"""One data subject at a time: an erasure and any write for the same person take turns.

A member's correction, a consent, a request filed or moved on: each write for
one person first calls :func:`lock_subject` in its own transaction. It locks
the person's row until that transaction ends, then asks the erasure ledger
(through ``state.is_erased``: the kernel does not know the ledger) whether the
person was erased meanwhile, and raises :class:`SubjectErased` if so. The
erasure takes the same lock first (a purge batch takes its members' locks
with :func:`lock_subjects`), so

* a write that got the lock first commits before the erasure reads anything,
  and the erasure then erases what it wrote;
* a write that waited for an erasure finds the person erased, and writes
  nothing.

The lock is the database's own: ``SELECT ... FOR UPDATE`` on PostgreSQL and
MariaDB/MySQL; on SQLite, which locks the whole file rather than rows, a write
that changes nothing (the database's write lock, which SQLite holds until the
transaction ends).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update


class SubjectErased(LookupError):
    """The person's data has been erased: nothing more may be stored for them.

    ``model`` is the subject model's name, ``key`` the person's former key.
    Whatever the caller's transaction holds must be rolled back.
    """

    def __init__(self, model: str, key: Any) -> None:
        super().__init__(f"{model} {key!r} has been erased")
        self.model = model
        self.key = key


def lock_subject(state: Any, subject_id: Any, *, allow_erased: bool = False) -> bool:
    """Lock the subject's row for the rest of the caller's transaction.

    Then, unless ``allow_erased`` (the erasure itself), raise
    :class:`SubjectErased` when the erasure ledger names the subject. Returns
    whether the row exists; a key that names no row locks nothing (on SQLite
    the write lock is still taken). Call it before reading what the write
    depends on, and commit or roll back soon: other writes for the same person,
    and their erasure, wait meanwhile.
    """
    model = state.registry.subject
    session = state.db.session
    pk = model.primary_key[0]
    key = _typed(pk, subject_id)
    found = False
    if key is not None:
        if session.get_bind(clause=model.table).dialect.name == "sqlite":
            session.execute(_no_op_update(model.table, pk, key))
        stmt = select(pk).where(pk == key).with_for_update()
        found = session.execute(stmt).first() is not None
    if not allow_erased and state.is_erased(model.name, subject_id, fresh=True):
        raise SubjectErased(model.name, subject_id if key is None else key)
    return found


def lock_subjects(state: Any, where: Any) -> None:
    """Lock the rows of every subject matching ``where`` (a condition on the subject
    table) for the rest of the caller's transaction: a purge batch, before it reads.

    A write holding one of them commits first; one arriving later waits and then
    finds its person erased. On SQLite nothing is taken here: the batch's first
    write takes the database's write lock, which serialises the same way.
    """
    model = state.registry.subject
    session = state.db.session
    if session.get_bind(clause=model.table).dialect.name == "sqlite":
        return
    session.execute(select(model.primary_key[0]).where(where).with_for_update()).all()


def _typed(pk: Any, value: Any) -> Any:
    """``value`` as the primary key's Python type; None when it cannot be one."""
    try:
        kind = pk.type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _no_op_update(table: Any, pk: Any, key: Any) -> Any:
    """``UPDATE subject SET col = col WHERE pk = :key``: takes SQLite's write lock.

    A column no foreign key points to is set to itself (so no foreign-key
    action fires), and so is every column with an ``onupdate`` default (so none
    is bumped).
    """
    referenced = {
        fk.target_fullname for other in table.metadata.tables.values() for fk in other.foreign_keys
    }
    plain = [
        c
        for c in table.columns
        if not c.primary_key and f"{table.fullname}.{c.name}" not in referenced
    ]
    target = plain[0] if plain else pk
    values = {c: c for c in table.columns if c.onupdate is not None}
    values[target] = target
    return update(table).where(pk == key).values(values)


# -- age and acting for someone else ----------------------------------------------------


def birth_date_of(state: Any, subject: Any) -> date | None:
    """The subject's declared date of birth (``ModelPolicy(birth_date=...)`` on the
    subject model), or None when none is declared or known. ``subject`` is a row."""
    model = state.registry.subject
    column = model.birth_date_column
    if column is None or subject is None:
        return None
    value = model.value(subject, column.name)
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def age_on(born: date, day: date) -> int:
    """Whole years between ``born`` and ``day`` (a 29 February birthday counts on 1 March)."""
    years = day.year - born.year
    if (day.month, day.day) < (born.month, born.day):
        years -= 1
    return years


def birthday_in(year: int, born: date) -> date:
    """``born``'s birthday in ``year`` (29 February: 1 March when ``year`` has none)."""
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


class ConsentRefused(PermissionError):
    """Whoever is asking may not give or withdraw this consent (a child below the
    age of consent: a guardian decides). ``str(exc)`` is the reason, translated,
    for the person who tried; nothing was stored."""


def check_consent(state: Any, subject: str, purpose: str, method: str) -> None:
    """Ask every guard in ``state.consent_guards`` whether the current request may
    record an answer on ``purpose`` for ``subject`` (its key as text) by ``method``;
    a guard raises :class:`ConsentRefused` to refuse. The consent service calls it
    before storing anything."""
    for guard in state.consent_guards:
        guard(state, subject, purpose, method)


def acting_for() -> dict[str, str] | None:
    """While a login account acts for another subject in this request (a guardian for
    a child): ``{"subject": key, "role": "guardian", "actor": account key}``."""
    from flask import g, has_request_context

    if not has_request_context():
        return None
    found = g.get("_avg_acting")
    return found if isinstance(found, dict) else None
