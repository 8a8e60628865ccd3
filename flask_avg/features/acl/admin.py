"""Changing groups, memberships and rules safely: the admin screen and the CLI share this.

Every change runs through :func:`apply_change`: the change is made in the
session and flushed, the result is checked (the last Super User member stays,
the editor keeps ``avg.acl.manage``), and only then audited, stamped with a new
ACL version and committed. A refused change is rolled back completely.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.identity import user_key
from flask_avg.core.signals import acl_changed
from flask_avg.features.acl.models import Group, GroupMember, Rule
from flask_avg.features.acl.service import DEFAULT_GROUPS, GroupTree, acl_of

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

MANAGE = "avg.acl.manage"
DEFAULT_KEYS = frozenset(spec.key for spec in DEFAULT_GROUPS)
IMPLICIT_KEYS = frozenset(("public", "registered", "member"))


class AclRefused(Exception):
    """A change that would break the ACL; ``str(exc)`` is a translated message for the user."""


def super_groups(tree: GroupTree) -> set[int]:
    """Ids of the Super User groups and of every group below one: a member of any
    of them passes every check, so each of them is as powerful as Super User itself."""
    return {gid for gid in tree.groups if any(grp.super_user for grp in tree.ancestors(gid))}


def _alive(state: AvgState, session: Session, user_ids: set[str]) -> set[str]:
    """The ``user_ids`` whose account still exists and is not erased: a membership
    row left behind by a deleted or erased account makes nobody a Super User."""
    model: Any = state.user_model
    table = getattr(model, "__table__", None)
    if table is None or not user_ids:
        return set(user_ids)
    pk = next(iter(table.primary_key.columns))
    typed: dict[Any, str] = {}
    for uid in user_ids:
        try:
            typed[pk.type.python_type(uid)] = uid
        except (TypeError, ValueError, NotImplementedError):
            continue
    existing = {str(k) for k in session.scalars(select(pk).where(pk.in_(list(typed))))}
    lifecycle = getattr(state, "lifecycle", None)
    return {
        uid
        for uid in existing
        if lifecycle is None or not state.is_erased(model.__name__, uid, fresh=True)
    }


def living_super_users(state: AvgState, session: Session | None = None) -> set[str]:
    """Account keys of the living Super Users: members of a Super User group (or a
    group below one) whose account exists and is not erased."""
    session = session if session is not None else state.db.session
    groups = super_groups(GroupTree.load(session))
    if not groups:
        return set()
    members = set(
        session.scalars(select(GroupMember.user_id).where(GroupMember.group_id.in_(groups)))
    )
    return _alive(state, session, members)


#: Why a change or an erasure that would leave no living Super User is refused.
LAST_SUPER_USER = _l(
    "Refused: this is the last Super User. Make someone else a Super User first; "
    "nothing was changed."
)


def apply_change(
    state: AvgState,
    change: str,
    mutate: Callable[[Session], None],
    *,
    editor: Any = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Make ``mutate``'s change, check it, audit it as ``acl.<change>`` and commit.

    ``editor`` is the user making the change through the admin screen (None on
    the command line); they must still be allowed ``avg.acl.manage`` afterwards.
    Raises :class:`AclRefused` (after a rollback) when the change is refused.
    """
    session: Session = state.db.session
    supers_before = living_super_users(state, session)
    editor_key = user_key(editor) if editor is not None else None
    try:
        mutate(session)
        session.flush()
        supers_after = living_super_users(state, session)
        if supers_before and not supers_after:
            raise AclRefused(str(LAST_SUPER_USER))
        if editor_key is not None and editor_key in supers_after - supers_before:
            # the guards below name each way up; this catches any they miss
            raise AclRefused(_("Only a Super User can change who is a Super User."))
        if editor is not None:
            tree = GroupTree.load(session)
            if not acl_of(state).decide_for(editor, MANAGE, tree).allowed:
                raise AclRefused(
                    _("Refused: after this change you could no longer manage access control.")
                )
    except Exception:
        session.rollback()
        acl_of(state).invalidate()
        raise
    state.audit.record(f"acl.{change}", detail=detail or {})
    acl_of(state).changed()
    session.commit()
    acl_changed.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        change=change,
        actor=editor,
        detail=detail or {},
    )


def find_group(session: Session, name: str) -> Group | None:
    """A group by key, or by title (case-insensitive)."""
    found = session.scalars(select(Group).where(Group.key == name)).first()
    if found is not None:
        return found
    wanted = name.strip().lower()
    return next(
        (grp for grp in session.scalars(select(Group)) if grp.title.strip().lower() == wanted),
        None,
    )


def member_counts(session: Session) -> dict[int, int]:
    """How many users each group has, by group id (groups without any left out)."""
    rows = session.execute(
        select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id)
    )
    return {group_id: int(count) for group_id, count in rows}


def member_ids(session: Session, group_id: int) -> list[str]:
    """The login ids of the users in a group, sorted."""
    return sorted(
        session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id))
    )


def own_rules(session: Session, group_id: int) -> dict[str, bool]:
    """The group's own settings (inherited ones left out): action -> allowed."""
    return {
        r.action: r.allow for r in session.scalars(select(Rule).where(Rule.group_id == group_id))
    }


def new_key(session: Session, title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:40] or "group"
    taken = set(session.scalars(select(Group.key)))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


# -- the changes ------------------------------------------------------------------


def add_group(state: AvgState, title: str, parent_id: int | None, *, editor: Any = None) -> Group:
    session: Session = state.db.session
    if parent_id is not None and session.get(Group, parent_id) is None:
        raise AclRefused(_("That parent group does not exist."))
    _guard_super(state, {parent_id}, editor)
    grp = Group(key=new_key(session, title), title=title.strip(), parent_id=parent_id)
    apply_change(
        state,
        "group.add",
        lambda s: s.add(grp),
        editor=editor,
        detail={"group": grp.key, "parent": parent_id},
    )
    return grp


def rename_group(state: AvgState, grp: Group, title: str, *, editor: Any = None) -> None:
    _guard_super(state, {grp.id}, editor)

    def mutate(_s: Session) -> None:
        grp.title = title.strip()

    apply_change(state, "group.rename", mutate, editor=editor, detail={"group": grp.key})


def move_group(state: AvgState, grp: Group, parent_id: int | None, *, editor: Any = None) -> None:
    session: Session = state.db.session
    if parent_id is not None:
        tree = GroupTree.load(session)
        if parent_id not in tree.groups:
            raise AclRefused(_("That parent group does not exist."))
        if parent_id == grp.id or parent_id in tree.descendants(grp.id):
            raise AclRefused(_("A group cannot be placed under itself or one of its subgroups."))
    # into the Super User subtree, or out of it: either changes who is a Super User
    _guard_super(state, {grp.id, parent_id}, editor)

    def mutate(_s: Session) -> None:
        grp.parent_id = parent_id

    apply_change(
        state, "group.move", mutate, editor=editor, detail={"group": grp.key, "parent": parent_id}
    )


def delete_group(state: AvgState, grp: Group, *, editor: Any = None) -> None:
    session: Session = state.db.session
    if grp.key in DEFAULT_KEYS:
        raise AclRefused(_("The default groups cannot be deleted; rename them instead."))
    if session.scalar(select(func.count()).select_from(Group).where(Group.parent_id == grp.id)):
        raise AclRefused(_("Move or delete the subgroups of this group first."))
    _guard_super(state, {grp.id}, editor)
    key = grp.key

    def mutate(s: Session) -> None:
        s.execute(delete(Rule).where(Rule.group_id == grp.id))
        s.execute(delete(GroupMember).where(GroupMember.group_id == grp.id))
        s.delete(grp)

    apply_change(state, "group.delete", mutate, editor=editor, detail={"group": key})


def is_super_user(state: AvgState, user: Any) -> bool:
    tree = acl_of(state).tree()
    return any(
        grp.super_user
        for gid in acl_of(state).user_group_ids(user, tree)
        for grp in tree.ancestors(gid)
    )


def _guard_super(state: AvgState, group_ids: set[int | None], editor: Any) -> None:
    """Only a Super User decides who else is one (as in Joomla); the CLI may always.

    Any group in ``group_ids`` that is a Super User group or lies below one
    (its members pass every check too) needs a Super User editor.
    """
    if editor is None:
        return
    touched = super_groups(GroupTree.load(state.db.session)) & {
        gid for gid in group_ids if gid is not None
    }
    if touched and not is_super_user(state, editor):
        raise AclRefused(_("Only a Super User can change who is a Super User."))


def add_member(state: AvgState, grp: Group, user: Any, *, editor: Any = None) -> bool:
    """Put ``user`` in ``grp``; False when they already were."""
    session: Session = state.db.session
    _guard_super(state, {grp.id}, editor)
    user_id = user_key(user)
    if user_id is None:
        raise AclRefused(_("This account has not been saved yet."))
    if session.get(GroupMember, (user_id, grp.id)) is not None:
        return False
    apply_change(
        state,
        "member.add",
        lambda s: s.add(GroupMember(user_id=user_id, group_id=grp.id)),
        editor=editor,
        detail={"group": grp.key, "user": user_id},
    )
    return True


def remove_member(state: AvgState, grp: Group, user_id: str, *, editor: Any = None) -> bool:
    session: Session = state.db.session
    _guard_super(state, {grp.id}, editor)
    row = session.get(GroupMember, (user_id, grp.id))
    if row is None:
        return False
    apply_change(
        state,
        "member.remove",
        lambda s: s.delete(row),
        editor=editor,
        detail={"group": grp.key, "user": user_id},
    )
    return True


def set_rules(
    state: AvgState, grp: Group, wanted: dict[str, bool | None], *, editor: Any = None
) -> int:
    """Set ``action -> True (allow) / False (deny) / None (inherit)``; returns how many changed."""
    session: Session = state.db.session
    _guard_super(state, {grp.id}, editor)
    current = {r.action: r for r in session.scalars(select(Rule).where(Rule.group_id == grp.id))}
    changes: dict[str, str] = {}
    for action, value in wanted.items():
        if action not in state.actions:
            raise AclRefused(_("Unknown action: %(action)s", action=action))
        row = current.get(action)
        old = None if row is None else row.allow
        if old != value:
            changes[action] = {True: "allow", False: "deny", None: "inherit"}[value]
    if not changes:
        return 0

    def mutate(s: Session) -> None:
        for action, word in changes.items():
            row = current.get(action)
            if word == "inherit":
                s.delete(row)
            elif row is None:
                s.add(Rule(group_id=grp.id, action=action, allow=word == "allow"))
            else:
                row.allow = word == "allow"

    apply_change(
        state, "rules.set", mutate, editor=editor, detail={"group": grp.key, "rules": changes}
    )
    return len(changes)
