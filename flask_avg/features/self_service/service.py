"""Member self-service as a Python API: see one's own data, correct it, set field rights.

The pages call these functions, so calling them directly audits, commits and
sends the same signals (``personal_data_viewed``, ``personal_data_changed``)
as clicking the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from flask_avg.core.presenters import SubjectData, collect
from flask_avg.core.signals import personal_data_changed, personal_data_viewed
from flask_avg.core.subjects import lock_subject
from flask_avg.features.self_service import field_policy

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class ValueInUse(Exception):
    """A new value of a unique column is already another row's; nothing was changed.

    ``column`` names the clashing column when it was found before writing; it is
    ``None`` when the database refused the write (a row took the value meanwhile).
    """

    def __init__(self, column: str | None = None) -> None:
        super().__init__(
            f"the value of {column!r} is already in use" if column else "a value is already in use"
        )
        self.column = column


def subject_id(state: AvgState, subject: Any) -> Any:
    """The subject's primary key value."""
    model = state.registry.subject
    return model.value(subject, model.primary_key[0].name)


def view_own_data(state: AvgState, subject: Any) -> SubjectData:
    """All data held on ``subject``, special categories included (Art. 15).

    Audits ``self.view``, commits and sends ``personal_data_viewed``.
    """
    data = collect(state, subject, special=True)
    state.audit.record("self.view", subject=data.subject_id, detail={"models": len(data.models)})
    state.db.session.commit()
    personal_data_viewed.send(current_app._get_current_object(), subject=subject)  # type: ignore[attr-defined]
    return data


def unique_clash(state: AvgState, subject: Any, values: dict[str, Any]) -> str | None:
    """The first unique column whose new value another row already has."""
    model = state.registry.subject
    key = model.primary_key[0]
    own = model.value(subject, key.name)
    for name, value in values.items():
        col = model.table.c[name]
        if not col.unique or value is None or value == model.value(subject, name):
            continue
        stmt = select(key).where(col == value, key != own).limit(1)
        if state.db.session.execute(stmt).first() is not None:
            return name
    return None


def correct(
    state: AvgState, subject: Any, values: dict[str, Any], *, actor: str | None
) -> list[str]:
    """Write the member's corrections (``{column: value}``); returns the changed columns.

    Locks the member first (raises :class:`~flask_avg.core.subjects.SubjectErased`
    when they have been erased meanwhile) and re-reads their row for update.
    Raises :class:`ValueInUse` (nothing changed) when a unique value is taken.
    When something changed: audits ``self.edit``, commits and sends
    ``personal_data_changed``. Which columns a member may edit is the caller's check.
    """
    model = state.registry.subject
    key = subject_id(state, subject)
    # an erasure of this member waits for this write, or this write for it
    lock_subject(state, key)
    state.db.session.refresh(subject, with_for_update=True)
    clash = unique_clash(state, subject, values)
    if clash:
        raise ValueInUse(clash)
    changed = [n for n, v in values.items() if model.value(subject, n) != v]
    if not changed:
        return []
    for name in changed:
        setattr(subject, model.attributes.get(name, name), values[name])
    state.audit.record("self.edit", subject=key, model=model.name, fields=changed, actor=actor)
    try:
        state.db.session.commit()
    except IntegrityError:
        state.db.session.rollback()
        raise ValueInUse() from None
    personal_data_changed.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        subject=subject,
        model=model.name,
        fields=changed,
        actor=actor,
    )
    return changed


def save_field_rights(state: AvgState, wanted: dict[str, bool], *, actor: str | None) -> list[str]:
    """Which columns members may edit (``{column: editable}``); audited, committed.

    Returns the columns whose right changed.
    """
    changed = field_policy.set_rights(state, wanted, actor=actor)
    if changed:
        state.audit.record("fields.rights", model=state.registry.subject.name, fields=changed)
    state.db.session.commit()
    return changed
