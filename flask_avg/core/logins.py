"""Which login accounts belong to which subjects, as SQL: for plugins keyed by login id.

The subject may be the login model itself, point to it (``member.user_id``), or be
pointed to by it (``user.member_id``). ACL memberships and the like are keyed by
the login id as text; erasing a subject must reach them however the host linked
the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, false, literal, select

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def login_column(state: AvgState) -> Any:
    """The subject's column pointing to the login model (``member.user_id``), or None."""
    user_table = getattr(state.user_model, "__table__", None)
    if user_table is None:
        return None
    for col in state.registry.subject.table.columns:
        if any(fk.column.table is user_table for fk in col.foreign_keys):
            return col
    return None


def login_keys(state: AvgState, subjects: Any) -> Select[Any]:
    """``SELECT`` of the login ids of the subjects whose keys ``subjects`` holds
    (a list, or a ``Select`` of subject keys)."""
    subject = state.registry.subject
    pk = subject.primary_key[0]
    user_model: Any = state.user_model
    if subject.cls is not None and subject.cls is user_model:
        return select(pk).where(pk.in_(subjects))
    link = login_column(state)
    if link is not None:
        return select(link).where(pk.in_(subjects), link.is_not(None))
    user_table = getattr(user_model, "__table__", None)
    if user_table is not None:
        user_pk = list(user_table.primary_key.columns)[0]
        for col in user_table.columns:
            if any(fk.column.table is subject.table for fk in col.foreign_keys):
                return select(user_pk).where(col.in_(subjects))
    return select(literal(None)).where(false())


def logins_of(state: AvgState, subjects: Any) -> list[str]:
    """The login ids, as text, of the subjects ``subjects`` holds (a list or ``Select``)."""
    found = state.db.session.scalars(login_keys(state, subjects))
    return [str(k) for k in found if k is not None]
