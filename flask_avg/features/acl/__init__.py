"""Access control (Joomla-style groups and rules on Flask-Principal), as a plugin.

Its lifecycle part: a member's group memberships are personal data (who is on
the board) and, worse, would pass to a new account that reuses the id. Erasing
a member removes the memberships of their login accounts, whatever route erased
them. The last living Super User is never erased: :meth:`AclPlugin.refuse` stops
the board's button, a request and the purge alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.logins import logins_of
from flask_avg.core.plugins import (
    EraseContext,
    Erased,
    ExportSection,
    Plugin,
    Refusal,
    SubjectContext,
)
from flask_avg.features.acl.models import Group, GroupMember
from flask_avg.features.acl.service import (
    BUILTIN_ACTIONS,
    Acl,
    bump_version,
    ensure_default_groups,
    group_title,
)

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


class AclPlugin(Plugin):
    name = "acl"
    templates = str(Path(__file__).parent / "templates")
    blueprint = "acl"
    actions = BUILTIN_ACTIONS
    labels = {"acl_groups": _l("Access groups")}

    def init_app(self, app: Any, state: AvgState) -> None:
        state.acl = Acl(state)

    def install(self, state: AvgState) -> str | None:
        from flask import current_app

        if not current_app.config["AVG_DEFAULT_GROUPS"]:
            return None
        return f"{ensure_default_groups(state.db.session)} default group(s) added"

    def create_blueprint(self, state: AvgState) -> Any:
        from flask_avg.features.acl.views import create_blueprint

        return create_blueprint(state)

    def register_commands(self, group: Any) -> None:
        from flask_avg.features.acl.views import register_commands

        register_commands(group)

    def export(self, ctx: SubjectContext) -> Iterable[ExportSection]:
        if not ctx.logins:
            return
        groups = ctx.session.scalars(
            select(Group)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id.in_(ctx.logins))
            .order_by(Group.id)
        ).all()
        if groups:
            yield ExportSection(
                "acl_groups",
                _l("Access groups"),
                {"group": _l("Group")},
                [{"group": group_title(g)} for g in groups],
                category="account",
            )

    def refuse(self, ctx: EraseContext) -> Iterable[Refusal]:
        """The subjects whose accounts are the last living Super Users, when all of
        those would go at once: someone must always be able to manage access."""
        from flask_avg.features.acl.admin import LAST_SUPER_USER, living_super_users

        if not ctx.logins:
            return []
        living = living_super_users(ctx.state, ctx.session)
        going = living & set(ctx.logins)
        if not going or living - going:
            return []
        pk_type = ctx.state.registry.subject.primary_key[0].type.python_type
        keys = (
            ctx.keys
            if len(ctx.keys) == 1
            else [k for k in ctx.keys if going & set(logins_of(ctx.state, [pk_type(k)]))]
        )
        return [Refusal(keys, LAST_SUPER_USER)]

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        if not ctx.logins:
            return []
        table: Any = GroupMember.__table__
        gone = ctx.session.execute(delete(table).where(ctx.login_in(table.c.user_id)))
        removed = int(getattr(gone, "rowcount", 0) or 0)
        if removed:
            bump_version(ctx.session)  # every process drops its cached memberships
        return [Erased("acl_groups", removed=removed)]


plugin = AclPlugin()
