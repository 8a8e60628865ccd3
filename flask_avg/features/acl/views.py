"""The access-control admin screen and the ``flask avg acl`` commands.

Every page needs ``avg.acl.manage``; every change is a CSRF-protected POST
that goes through :mod:`flask_avg.features.acl.admin` (checked, audited, versioned).
"""

from __future__ import annotations

from typing import Any

import click
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jinja import NavItem
from flask_avg.core.web import make_blueprint
from flask_avg.extension import require
from flask_avg.features.acl import admin as acl_admin
from flask_avg.features.acl.models import Group, GroupMember, Rule
from flask_avg.features.acl.service import Acl, Decision, GroupTree, group_title

MANAGE = acl_admin.MANAGE
NO_PARENT = 0


class AddGroupForm(FlaskForm):
    title = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    parent = SelectField(_l("Place under"), coerce=int)


class RenameForm(FlaskForm):
    title = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])


class MoveForm(FlaskForm):
    parent = SelectField(_l("Place under"), coerce=int)


class MemberForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])


class ConfirmForm(FlaskForm):
    """Only the CSRF token: delete a group, remove a member, save the matrix."""


def _checked(form: FlaskForm) -> bool:
    """Validate a POSTed form; a missing or wrong CSRF token is a 400, not a message."""
    if form.validate():
        return True
    if "csrf_token" in form.errors:
        abort(400)
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")
    return False


def _parent_choices(tree: GroupTree, exclude: set[int] = frozenset()) -> list[tuple[int, str]]:  # type: ignore[assignment]
    choices = [(NO_PARENT, _("(top level)"))]
    choices += [
        (grp.id, "\u2014 " * depth + group_title(grp))
        for depth, grp in tree.walk()
        if grp.id not in exclude
    ]
    return choices


def explain(decision: Decision, tree: GroupTree, here: Any) -> str:
    """The 'why' next to a calculated setting, in the page's language."""
    if decision.group is None:
        return _("Denied: no group allows it")
    grp = tree.by_key(decision.group)
    title = group_title(grp) if grp is not None else decision.group
    if decision.rule == "super user":
        return _("Allowed: %(group)s passes every check", group=title)
    if decision.rule == "deny":
        if grp is not None and grp.id == here.id:
            return _("Denied here")
        return _("Denied, inherited from %(group)s", group=title)
    if grp is not None and grp.id == here.id:
        return _("Allowed here")
    return _("Allowed, inherited from %(group)s", group=title)


def _user_label(user_id: str) -> str:
    manager = getattr(current_app, "login_manager", None)
    loader = getattr(manager, "_user_callback", None)
    user = loader(user_id) if loader is not None else None
    return str(getattr(user, "email", None) or user_id)


def _acl(state: Any) -> Acl:
    """The ACL this plugin gave the state (typed for the views)."""
    return state.acl  # type: ignore[no-any-return]


def create_blueprint(state: Any) -> Blueprint:
    bp = make_blueprint("acl", __name__)
    state.nav.append(NavItem("avg_acl.index", _l("Access control"), MANAGE))
    session = lambda: state.db.session  # noqa: E731

    def group_or_404(group_id: int) -> Group:
        grp = session().get(Group, group_id)
        if grp is None:
            abort(404)
        return grp

    def back(group_id: int | None = None) -> Any:
        if group_id is None:
            return redirect(url_for("avg_acl.index"))
        return redirect(url_for("avg_acl.group", group_id=group_id))

    def run(change: Any, ok_message: str, group_id: int | None) -> Any:
        try:
            change()
        except acl_admin.AclRefused as exc:
            flash(str(exc), "error")
        else:
            flash(ok_message, "success")
        return back(group_id)

    @bp.route("/acl")
    @require(MANAGE)
    def index() -> Any:
        tree = _acl(state).tree()
        counts = dict(
            session()
            .execute(select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id))
            .all()
        )
        form = AddGroupForm()
        form.parent.choices = _parent_choices(tree)
        return render_template(
            "avg/acl_index.html",
            tree=tree,
            counts=counts,
            form=form,
            implicit=acl_admin.IMPLICIT_KEYS,
            title_of=group_title,
        )

    @bp.route("/acl/groups", methods=["POST"])
    @require(MANAGE)
    def add_group() -> Any:
        tree = _acl(state).tree()
        form = AddGroupForm()
        form.parent.choices = _parent_choices(tree)
        if not _checked(form):
            return back()
        parent = form.parent.data or None
        title = form.title.data or ""

        def change() -> None:
            acl_admin.add_group(state, title, parent, editor=current_user)

        return run(change, _("Group %(title)s added.", title=title), None)

    @bp.route("/acl/groups/<int:group_id>")
    @require(MANAGE)
    def group(group_id: int) -> Any:
        grp = group_or_404(group_id)
        tree = _acl(state).tree()
        node = tree.groups[grp.id]
        rules = {
            r.action: r.allow
            for r in session().scalars(select(Rule).where(Rule.group_id == grp.id))
        }
        matrix = []
        for action in state.actions:  # flask-avg's own first, then the host's
            decision = tree.decide([grp.id], action)
            matrix.append(
                {
                    "action": action,
                    "label": state.actions[action],
                    "setting": {None: "inherit", True: "allow", False: "deny"}[rules.get(action)],
                    "decision": decision,
                    "why": explain(decision, tree, node),
                }
            )
        member_ids = sorted(
            session().scalars(select(GroupMember.user_id).where(GroupMember.group_id == grp.id))
        )
        rename = RenameForm(title=group_title(grp))
        move = MoveForm(parent=grp.parent_id or NO_PARENT)
        move.parent.choices = _parent_choices(tree, {grp.id, *tree.descendants(grp.id)})
        return render_template(
            "avg/acl_group.html",
            group=grp,
            tree=tree,
            chain=tree.ancestors(grp.id),
            matrix=matrix,
            members=[(uid, _user_label(uid)) for uid in member_ids],
            rename=rename,
            move=move,
            member_form=MemberForm(),
            confirm=ConfirmForm(),
            deletable=grp.key not in acl_admin.DEFAULT_KEYS,
            implicit=grp.key in acl_admin.IMPLICIT_KEYS,
            title_of=group_title,
        )

    @bp.route("/acl/groups/<int:group_id>/rename", methods=["POST"])
    @require(MANAGE)
    def rename_group(group_id: int) -> Any:
        grp = group_or_404(group_id)
        form = RenameForm()
        if not _checked(form):
            return back(group_id)
        title = form.title.data or ""
        return run(
            lambda: acl_admin.rename_group(state, grp, title, editor=current_user),
            _("Group renamed to %(title)s.", title=title),
            group_id,
        )

    @bp.route("/acl/groups/<int:group_id>/move", methods=["POST"])
    @require(MANAGE)
    def move_group(group_id: int) -> Any:
        grp = group_or_404(group_id)
        tree = _acl(state).tree()
        form = MoveForm()
        # Every group is offered: the cycle check below gives the clear message.
        form.parent.choices = _parent_choices(tree)
        if not _checked(form):
            return back(group_id)
        parent = form.parent.data or None
        return run(
            lambda: acl_admin.move_group(state, grp, parent, editor=current_user),
            _("Group moved."),
            group_id,
        )

    @bp.route("/acl/groups/<int:group_id>/delete", methods=["POST"])
    @require(MANAGE)
    def delete_group(group_id: int) -> Any:
        grp = group_or_404(group_id)
        if not _checked(ConfirmForm()):
            return back(group_id)
        title = group_title(grp)
        try:
            acl_admin.delete_group(state, grp, editor=current_user)
        except acl_admin.AclRefused as exc:
            flash(str(exc), "error")
            return back(group_id)
        flash(_("Group %(title)s deleted.", title=title), "success")
        return back()

    @bp.route("/acl/groups/<int:group_id>/members", methods=["POST"])
    @require(MANAGE)
    def add_member(group_id: int) -> Any:
        grp = group_or_404(group_id)
        form = MemberForm()
        if not _checked(form):
            return back(group_id)
        user = state.find_user((form.email.data or "").strip().lower())
        if user is None:
            flash(_("No user with that e-mail address."), "error")
            return back(group_id)

        def change() -> None:
            if not acl_admin.add_member(state, grp, user, editor=current_user):
                raise acl_admin.AclRefused(_("That user is already in this group."))

        return run(change, _("User added to the group."), group_id)

    @bp.route("/acl/groups/<int:group_id>/members/<user_id>/remove", methods=["POST"])
    @require(MANAGE)
    def remove_member(group_id: int, user_id: str) -> Any:
        grp = group_or_404(group_id)
        if not _checked(ConfirmForm()):
            return back(group_id)

        def change() -> None:
            if not acl_admin.remove_member(state, grp, user_id, editor=current_user):
                raise acl_admin.AclRefused(_("That user is not in this group."))

        return run(change, _("User removed from the group."), group_id)

    @bp.route("/acl/groups/<int:group_id>/rules", methods=["POST"])
    @require(MANAGE)
    def set_rules(group_id: int) -> Any:
        grp = group_or_404(group_id)
        if not _checked(ConfirmForm()):
            return back(group_id)
        wanted: dict[str, bool | None] = {}
        for action in state.actions:
            value = request.form.get(f"rule-{action}")
            if value is None:
                continue
            if value not in ("inherit", "allow", "deny"):
                abort(400)
            wanted[action] = {"inherit": None, "allow": True, "deny": False}[value]
        try:
            changed = acl_admin.set_rules(state, grp, wanted, editor=current_user)
        except acl_admin.AclRefused as exc:
            flash(str(exc), "error")
        else:
            flash(_("Permissions saved (%(n)s changed).", n=changed), "success")
        return back(group_id)

    return bp


def register_commands(group: click.Group) -> None:
    """``flask avg acl assign EMAIL GROUP`` and ``flask avg acl check EMAIL ACTION``."""
    from flask_avg.extension import get_state

    @group.group("acl")
    def acl_cli() -> None:
        """Access control: groups, members and permission checks."""

    def user_or_fail(state: Any, email: str) -> Any:
        user = state.find_user(email.strip().lower())
        if user is None:
            raise click.ClickException(f"no user with e-mail {email}")
        return user

    @acl_cli.command("assign")
    @click.argument("email")
    @click.argument("group_name", metavar="GROUP")
    def assign(email: str, group_name: str) -> None:
        """Put a user in a group (by key or name), e.g. to make the first administrator."""
        state = get_state()
        user = user_or_fail(state, email)
        grp = acl_admin.find_group(state.db.session, group_name)
        if grp is None:
            keys = ", ".join(state.db.session.scalars(select(Group.key).order_by(Group.key)))
            raise click.ClickException(f"no group {group_name!r}; groups: {keys}")
        if acl_admin.add_member(state, grp, user):
            click.echo(f"{email} added to group {grp.title} ({grp.key}).")
        else:
            click.echo(f"{email} was already in group {grp.title} ({grp.key}).")

    @acl_cli.command("check")
    @click.argument("email")
    @click.argument("action")
    def check(email: str, action: str) -> None:
        """Print 'allowed' or 'denied' for a user and action, and the rule that decided."""
        state = get_state()
        if action not in state.actions:
            raise click.ClickException(f"unknown action {action!r}")
        user = user_or_fail(state, email)
        tree = _acl(state).tree()
        decision = _acl(state).decide_for(user, action, tree)
        click.echo("allowed" if decision.allowed else "denied")
        groups = [tree.groups[gid].key for gid in _acl(state).user_group_ids(user, tree)]
        click.echo(f"  rule: {decision.explain()}")
        click.echo(f"  groups: {', '.join(groups) or '-'}")

    @acl_cli.command("groups")
    def groups() -> None:
        """Print the group tree with member counts."""
        state = get_state()
        tree = _acl(state).tree()
        counts = dict(
            state.db.session.execute(
                select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id)
            ).all()
        )
        for depth, grp in tree.walk():
            flag = " [super user]" if grp.super_user else ""
            click.echo(f"{'  ' * depth}{grp.title} ({grp.key}){flag}: {counts.get(grp.id, 0)}")
