"""Member self-service as a Python API: see one's own data, correct it, set field rights.

"One's own data" is the member's row and their rows of one-to-one models (a
profile linked to them or to their login account): see
:mod:`~flask_avg.features.self_service.field_policy` for how fields are named.

The pages call these functions, so calling them directly audits, commits and
sends the same signals (``personal_data_viewed``, ``personal_data_changed``)
as clicking the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from flask_avg.core.presenters import SubjectData, collect
from flask_avg.core.signals import personal_data_changed, personal_data_viewed
from flask_avg.core.subjects import lock_subject
from flask_avg.features.self_service import field_policy

if TYPE_CHECKING:
    from flask_avg.core.registry import DeclaredModel
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


class ProfileMissing(Exception):
    """The member has no row of a one-to-one model yet and this form cannot create one:
    a required column no member may fill, or no login account to link it to.
    Nothing was changed; ``model`` is the model's name."""

    def __init__(self, model: str) -> None:
        super().__init__(f"no {model} row for this member, and it cannot be created here")
        self.model = model


def own_row(state: AvgState, model: DeclaredModel, subject: Any, *, lock: bool = False) -> Any:
    """The member's one row of ``model`` (the subject itself, or their profile), or None.

    Found through the model's path to the subject only, never through a key from a
    form: another member's profile is not reachable. ``lock`` reads it for update.
    """
    if model.is_subject:
        return subject
    stmt = state.resolver.select_rows(model, [subject_id(state, subject)])
    if lock:
        stmt = stmt.with_for_update()
    if model.cls is not None:
        return state.db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    row = state.db.session.execute(stmt).mappings().first()
    return dict(row) if row is not None else None


def _link_values(state: AvgState, model: DeclaredModel, subject: Any) -> dict[str, Any] | None:
    """The foreign-key values a new row of the one-to-one ``model`` needs to be the
    member's: ``{"member_id": member.id}`` (a key to the subject), ``{"user_id":
    member.user_id}`` (a key to the login the member points to). None when the row
    cannot be linked (another shape of path, or a member without a login)."""
    path = model.path
    subject_model = state.registry.subject
    if len(path) == 1 and path[0].up:
        fk, target = path[0].pairs[0]
        return {fk.name: subject_model.value(subject, target.name)}
    if len(path) == 2 and path[0].up and not path[1].up:
        (fk, target), (parent, link) = path[0].pairs[0], path[1].pairs[0]
        value = subject_model.value(subject, link.name) if target is parent else None
        return {fk.name: value} if value is not None else None
    return None


def _needs_more(model: DeclaredModel, given: set[str]) -> bool:
    """Whether a new row would leave a required column (NOT NULL, no default) empty."""
    for col in model.table.columns:
        if col.name in given or col.nullable or col is model.table.autoincrement_column:
            continue
        if col.default is None and col.server_default is None:
            return True
    return False


def can_create(state: AvgState, model: DeclaredModel, subject: Any, columns: list[str]) -> bool:
    """Whether the member's missing row of ``model`` can be made from a form with ``columns``
    (which a form marks required when they are NOT NULL)."""
    links = _link_values(state, model, subject)
    return links is not None and not _needs_more(model, {*links, *columns})


def unique_clash(
    state: AvgState, subject: Any, values: dict[str, Any], model: DeclaredModel | None = None
) -> str | None:
    """The first unique column of ``model`` (default: the subject) whose new value
    another row already has."""
    model = model or state.registry.subject
    row = own_row(state, model, subject)
    keys = model.primary_key
    for name, value in values.items():
        col = model.table.c[name]
        if not col.unique or value is None:
            continue
        if row is not None and value == model.value(row, name):
            continue
        stmt = select(keys[0]).where(col == value)
        if row is not None:
            stmt = stmt.where(or_(*(k != model.value(row, k.name) for k in keys)))
        if state.db.session.execute(stmt.limit(1)).first() is not None:
            return name
    return None


def _by_model(state: AvgState, values: dict[str, Any]) -> dict[DeclaredModel, dict[str, Any]]:
    grouped: dict[DeclaredModel, dict[str, Any]] = {}
    for key, value in values.items():
        model, column = field_policy.split_key(state, key)
        grouped.setdefault(model, {})[column] = value
    return grouped


def _write(state: AvgState, model: DeclaredModel, row: Any, values: dict[str, Any]) -> None:
    if model.cls is not None:
        for name, value in values.items():
            setattr(row, model.attributes.get(name, name), value)
        return
    where = [k == model.value(row, k.name) for k in model.primary_key]
    state.db.session.execute(model.table.update().where(*where).values(values))


def _create(state: AvgState, model: DeclaredModel, subject: Any, values: dict[str, Any]) -> None:
    links = _link_values(state, model, subject) or {}
    if model.cls is None:
        state.db.session.execute(model.table.insert().values({**values, **links}))
        return
    row = model.cls()
    _write(state, model, row, {**values, **links})
    state.db.session.add(row)


def correct(
    state: AvgState, subject: Any, values: dict[str, Any], *, actor: str | None
) -> list[str]:
    """Write the member's corrections (``{key: value}``); returns the changed keys.

    A key is a column of the subject (``phone``) or ``Model.column`` of a one-to-one
    model (``Profile.street``; see :mod:`~flask_avg.features.self_service.field_policy`).
    The member's profile row is found through its link to them, and created when
    missing (raises :class:`ProfileMissing`, nothing changed, when it cannot be).
    Locks the member first (raises :class:`~flask_avg.core.subjects.SubjectErased`
    when they have been erased meanwhile) and re-reads their rows for update.
    Raises :class:`ValueInUse` (nothing changed) when a unique value is taken.
    When something changed: audits ``self.edit`` per model, commits and sends
    ``personal_data_changed`` per model. Which fields a member may edit is the
    caller's check.
    """
    key = subject_id(state, subject)
    grouped = _by_model(state, values)
    # an erasure of this member waits for this write, or this write for it
    lock_subject(state, key)
    state.db.session.refresh(subject, with_for_update=True)
    plan: list[tuple[DeclaredModel, Any, dict[str, Any]]] = []
    for model, wanted in grouped.items():
        row = own_row(state, model, subject, lock=True)
        clash = unique_clash(state, subject, wanted, model)
        if clash:
            raise ValueInUse(field_policy.field_key(model, clash))
        if row is None:
            changed = {n: v for n, v in wanted.items() if v is not None}
        else:
            changed = {n: v for n, v in wanted.items() if model.value(row, n) != v}
        if row is None and changed and not can_create(state, model, subject, list(changed)):
            state.db.session.rollback()
            raise ProfileMissing(model.name)
        if changed:
            plan.append((model, row, changed))
    if not plan:
        return []
    for model, row, changed in plan:
        if row is None:
            _create(state, model, subject, changed)
        else:
            _write(state, model, row, changed)
        state.audit.record(
            "self.edit", subject=key, model=model.name, fields=list(changed), actor=actor
        )
    try:
        state.db.session.commit()
    except IntegrityError:
        state.db.session.rollback()
        raise ValueInUse() from None
    for model, _row, changed in plan:
        personal_data_changed.send(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            subject=subject,
            model=model.name,
            fields=list(changed),
            actor=actor,
        )
    return [field_policy.field_key(model, n) for model, _row, changed in plan for n in changed]


def save_field_rights(state: AvgState, wanted: dict[str, bool], *, actor: str | None) -> list[str]:
    """Which fields members may edit (``{key: editable}``); audited per model, committed.

    Returns the keys whose right changed.
    """
    changed = field_policy.set_rights(state, wanted, actor=actor)
    per_model: dict[str, list[str]] = {}
    for key in changed:
        model, column = field_policy.split_key(state, key)
        per_model.setdefault(model.name, []).append(column)
    for name, columns in per_model.items():
        state.audit.record("fields.rights", model=name, fields=columns)
    state.db.session.commit()
    return changed
