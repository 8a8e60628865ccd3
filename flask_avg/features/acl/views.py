"""The access-control admin screen and the ``flask avg acl`` commands.

Every page needs ``avg.acl.manage``; every change is a CSRF-protected POST
that goes through :mod:`flask_avg.features.acl.admin` (checked, audited, versioned).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from flask_avg.core.forms import AvgForm as FlaskForm  # refuses control characters
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.identity import user_label
from flask_avg.core.jinja import NavItem
from flask_avg.core.presenters import actor_names
from flask_avg.core.web import make_blueprint
from flask_avg.extension import get_state, require
from flask_avg.features.acl import admin as acl_admin
from flask_avg.features.acl.models import Group
from flask_avg.features.acl.service import Decision, GroupTree, acl_of, group_title

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

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


def _mapped_roles(group_key: str) -> list[str]:
    """The host roles that put users in this group (``AVG_ROLE_GROUPS``)."""
    mapping = current_app.config.get("AVG_ROLE_GROUPS") or {}
    return sorted(role for role, key in mapping.items() if key == group_key)


def _role_members(state: AvgState, roles: list[str]) -> list[str]:
    """Labels of the users holding one of ``roles``, when the login model has a
    ``roles`` relationship to objects with a ``name`` (Flask-Security's); else none."""
    model: Any = state.user_model
    relation = getattr(model, "roles", None)
    if not roles or relation is None:
        return []
    try:
        role_model = relation.property.mapper.class_
        found = state.db.session.scalars(
            select(model).where(relation.any(role_model.name.in_(roles))).limit(500)
        )
        return sorted(user_label(user) for user in found)
    except (AttributeError, InvalidRequestError):
        return []


def _group_or_404(group_id: int) -> Group:
    grp = get_state().db.session.get(Group, group_id)
    if grp is None:
        abort(404)
    return grp


def _back(group_id: int | None = None) -> Any:
    if group_id is None:
        return redirect(url_for("avg_acl.index"))
    return redirect(url_for("avg_acl.group", group_id=group_id))


def _run(change: Callable[[], object], ok_message: str, group_id: int | None) -> Any:
    """Make an :mod:`~flask_avg.features.acl.admin` change; flash the outcome and go back."""
    try:
        change()
    except acl_admin.AclRefused as exc:
        flash(str(exc), "error")
    else:
        flash(ok_message, "success")
    return _back(group_id)


def _matrix(state: AvgState, tree: GroupTree, grp: Group) -> list[dict[str, Any]]:
    """Every action with the group's own setting, the outcome and why."""
    rules = acl_admin.own_rules(state.db.session, grp.id)
    node = tree.groups[grp.id]
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
    return matrix


def _wanted_rules(state: AvgState) -> dict[str, bool | None]:
    """The matrix as posted: action -> allow (True), deny (False) or inherit (None)."""
    wanted: dict[str, bool | None] = {}
    for action in state.actions:
        value = request.form.get(f"rule-{action}")
        if value is None:
            continue
        if value not in ("inherit", "allow", "deny"):
            abort(400)
        wanted[action] = {"inherit": None, "allow": True, "deny": False}[value]
    return wanted


@require(MANAGE)
def index() -> Any:
    state = get_state()
    tree = acl_of(state).tree()
    form = AddGroupForm()
    form.parent.choices = _parent_choices(tree)
    return render_template(
        "avg/acl_index.html",
        tree=tree,
        counts=acl_admin.member_counts(state.db.session),
        form=form,
        implicit=acl_admin.IMPLICIT_KEYS,
        title_of=group_title,
    )


@require(MANAGE)
def add_group() -> Any:
    state = get_state()
    form = AddGroupForm()
    form.parent.choices = _parent_choices(acl_of(state).tree())
    if not _checked(form):
        return _back()
    parent = form.parent.data or None
    title = form.title.data or ""
    return _run(
        lambda: acl_admin.add_group(state, title, parent, editor=current_user),
        _("Group %(title)s added.", title=title),
        None,
    )


@require(MANAGE)
def group(group_id: int) -> Any:
    state = get_state()
    grp = _group_or_404(group_id)
    tree = acl_of(state).tree()
    member_ids = acl_admin.member_ids(state.db.session, grp.id)
    labels = actor_names(state, member_ids)
    roles = _mapped_roles(grp.key)
    move = MoveForm(parent=grp.parent_id or NO_PARENT)
    move.parent.choices = _parent_choices(tree, {grp.id, *tree.descendants(grp.id)})
    return render_template(
        "avg/acl_group.html",
        group=grp,
        tree=tree,
        chain=tree.ancestors(grp.id),
        matrix=_matrix(state, tree, grp),
        members=[(uid, labels.get(uid, f"#{uid}")) for uid in member_ids],
        mapped_roles=roles,
        role_members=_role_members(state, roles),
        rename=RenameForm(title=group_title(grp)),
        move=move,
        member_form=MemberForm(),
        confirm=ConfirmForm(),
        deletable=grp.key not in acl_admin.DEFAULT_KEYS,
        implicit=grp.key in acl_admin.IMPLICIT_KEYS,
        title_of=group_title,
    )


@require(MANAGE)
def rename_group(group_id: int) -> Any:
    grp = _group_or_404(group_id)
    form = RenameForm()
    if not _checked(form):
        return _back(group_id)
    title = form.title.data or ""
    return _run(
        lambda: acl_admin.rename_group(get_state(), grp, title, editor=current_user),
        _("Group renamed to %(title)s.", title=title),
        group_id,
    )


@require(MANAGE)
def move_group(group_id: int) -> Any:
    state = get_state()
    grp = _group_or_404(group_id)
    form = MoveForm()
    # Every group is offered: the cycle check in admin.move_group gives the clear message.
    form.parent.choices = _parent_choices(acl_of(state).tree())
    if not _checked(form):
        return _back(group_id)
    parent = form.parent.data or None
    return _run(
        lambda: acl_admin.move_group(state, grp, parent, editor=current_user),
        _("Group moved."),
        group_id,
    )


@require(MANAGE)
def delete_group(group_id: int) -> Any:
    grp = _group_or_404(group_id)
    if not _checked(ConfirmForm()):
        return _back(group_id)
    title = group_title(grp)
    try:
        acl_admin.delete_group(get_state(), grp, editor=current_user)
    except acl_admin.AclRefused as exc:
        flash(str(exc), "error")
        return _back(group_id)
    flash(_("Group %(title)s deleted.", title=title), "success")
    return _back()


@require(MANAGE)
def add_member(group_id: int) -> Any:
    state = get_state()
    grp = _group_or_404(group_id)
    form = MemberForm()
    if not _checked(form):
        return _back(group_id)
    user = state.find_user((form.email.data or "").strip().lower())
    if user is None:
        flash(_("No user with that e-mail address."), "error")
        return _back(group_id)

    def change() -> None:
        if not acl_admin.add_member(state, grp, user, editor=current_user):
            raise acl_admin.AclRefused(_("That user is already in this group."))

    return _run(change, _("User added to the group."), group_id)


@require(MANAGE)
def remove_member(group_id: int, user_id: str) -> Any:
    grp = _group_or_404(group_id)
    if not _checked(ConfirmForm()):
        return _back(group_id)

    def change() -> None:
        if not acl_admin.remove_member(get_state(), grp, user_id, editor=current_user):
            raise acl_admin.AclRefused(_("That user is not in this group."))

    return _run(change, _("User removed from the group."), group_id)


@require(MANAGE)
def set_rules(group_id: int) -> Any:
    state = get_state()
    grp = _group_or_404(group_id)
    if not _checked(ConfirmForm()):
        return _back(group_id)
    wanted = _wanted_rules(state)
    try:
        changed = acl_admin.set_rules(state, grp, wanted, editor=current_user)
    except acl_admin.AclRefused as exc:
        flash(str(exc), "error")
    else:
        flash(_("Permissions saved (%(n)s changed).", n=changed), "success")
    return _back(group_id)


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("acl", __name__)
    state.nav.append(NavItem("avg_acl.index", _l("Access control"), MANAGE, "access"))
    # Every change is a POST (CSRF-checked by its form); only the two pages are GETs.
    post, page = ["POST"], "/acl/groups/<avg_id:group_id>"
    bp.add_url_rule("/acl", endpoint="index", view_func=index, methods=["GET"])
    bp.add_url_rule("/acl/groups", endpoint="add_group", view_func=add_group, methods=post)
    bp.add_url_rule(page, endpoint="group", view_func=group, methods=["GET"])
    bp.add_url_rule(f"{page}/rename", endpoint="rename_group", view_func=rename_group, methods=post)
    bp.add_url_rule(f"{page}/move", endpoint="move_group", view_func=move_group, methods=post)
    bp.add_url_rule(f"{page}/delete", endpoint="delete_group", view_func=delete_group, methods=post)
    bp.add_url_rule(f"{page}/members", endpoint="add_member", view_func=add_member, methods=post)
    bp.add_url_rule(
        f"{page}/members/<user_id>/remove",
        endpoint="remove_member",
        view_func=remove_member,
        methods=post,
    )
    bp.add_url_rule(f"{page}/rules", endpoint="set_rules", view_func=set_rules, methods=post)
    return bp


def register_commands(group: click.Group) -> None:
    """``flask avg acl assign EMAIL GROUP`` and ``flask avg acl check EMAIL ACTION``."""

    @group.group("acl")
    def acl_cli() -> None:
        """Access control: groups, members and permission checks."""

    def user_or_fail(state: AvgState, email: str) -> Any:
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
        tree = acl_of(state).tree()
        decision = acl_of(state).decide_for(user, action, tree)
        click.echo("allowed" if decision.allowed else "denied")
        groups = [tree.groups[gid].key for gid in acl_of(state).user_group_ids(user, tree)]
        click.echo(f"  rule: {decision.explain()}")
        click.echo(f"  groups: {', '.join(groups) or '-'}")

    @acl_cli.command("groups")
    def groups() -> None:
        """Print the group tree with member counts."""
        state = get_state()
        tree = acl_of(state).tree()
        counts = acl_admin.member_counts(state.db.session)
        for depth, grp in tree.walk():
            flag = " [super user]" if grp.super_user else ""
            click.echo(f"{'  ' * depth}{grp.title} ({grp.key}){flag}: {counts.get(grp.id, 0)}")
