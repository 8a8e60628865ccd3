"""The access-control admin screen: groups, members, the permission matrix, and its refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_app.models import db
from flask_avg.core.models import AuditEntry
from flask_avg.core.signals import acl_changed
from flask_avg.features.acl.models import Group, GroupMember, Rule
from tests.support.acl import acl_snapshot, client_for, group, make_users
from tests.support.app import csrf_token


@pytest.fixture
def users(app):
    return make_users()


@pytest.fixture
def admin(app, users):
    return client_for(app, users["administrator"])


@pytest.fixture
def changes(app):
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    acl_changed.connect(receiver, app)
    yield seen
    acl_changed.disconnect(receiver, app)


def post(client, url, data, token_from="/avg/acl"):
    data = {"csrf_token": csrf_token(client, token_from), **data}
    return client.post(url, data=data)


def audit_actions():
    db.session.rollback()
    actions = list(
        db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("acl.%")).order_by(AuditEntry.id)
        )
    )
    db.session.rollback()
    return actions


def fresh(grp_key):
    db.session.rollback()
    return group(grp_key)


def test_tree_page_lists_every_group_in_dutch(admin):
    page = admin.get("/avg/acl").get_data(as_text=True)
    for title in ("Publiek", "Geregistreerd", "Lid", "Bestuur", "Beheerder", "Superbeheerder"):
        assert f">{title}</a>" in page
    assert "Toegangsrechten" in page


def test_add_rename_move_and_delete_a_group(admin, changes):
    board = group("board")
    response = post(admin, "/avg/acl/groups", {"title": "Jeugdcommissie", "parent": board.id})
    assert response.status_code == 302
    youth = fresh("jeugdcommissie")
    assert youth.parent_id == board.id

    post(admin, f"/avg/acl/groups/{youth.id}/rename", {"title": "Jeugd"})
    assert fresh("jeugdcommissie").title == "Jeugd"

    member = group("member")
    post(admin, f"/avg/acl/groups/{youth.id}/move", {"parent": member.id})
    assert fresh("jeugdcommissie").parent_id == member.id

    post(admin, f"/avg/acl/groups/{youth.id}/delete", {})
    db.session.rollback()
    assert db.session.scalars(select(Group).where(Group.key == "jeugdcommissie")).first() is None
    assert audit_actions() == [
        "acl.group.add",
        "acl.group.rename",
        "acl.group.move",
        "acl.group.delete",
    ]
    assert [c["change"] for c in changes] == [
        "group.add",
        "group.rename",
        "group.move",
        "group.delete",
    ]


def test_a_group_cannot_move_under_itself_or_a_descendant(admin):
    member, administrator = group("member"), group("administrator")
    before = acl_snapshot()
    for parent in (member.id, administrator.id):
        response = post(admin, f"/avg/acl/groups/{member.id}/move", {"parent": parent})
        assert response.status_code == 302
    page = admin.get(f"/avg/acl/groups/{member.id}").get_data(as_text=True)
    assert "niet onder zichzelf" in page
    assert acl_snapshot() == before


def test_default_groups_and_groups_with_subgroups_are_not_deleted(admin):
    before = acl_snapshot()
    post(admin, f"/avg/acl/groups/{group('board').id}/delete", {})
    assert acl_snapshot() == before
    post(admin, "/avg/acl/groups", {"title": "Commissies", "parent": 0})
    post(admin, "/avg/acl/groups", {"title": "Kascommissie", "parent": fresh("commissies").id})
    middle = acl_snapshot()
    post(admin, f"/avg/acl/groups/{fresh('commissies').id}/delete", {})
    assert acl_snapshot() == middle


def test_add_and_remove_a_member_by_email(admin, users):
    board = group("board")
    response = post(admin, f"/avg/acl/groups/{board.id}/members", {"email": "M1@example.org "})
    assert response.status_code == 302
    member_id = str(users["member"].id)
    db.session.rollback()
    assert db.session.get(GroupMember, (member_id, board.id)) is not None
    page = admin.get(f"/avg/acl/groups/{board.id}").get_data(as_text=True)
    assert "m1@example.org" in page

    post(admin, f"/avg/acl/groups/{board.id}/members", {"email": "nobody@example.org"})
    page = admin.get(f"/avg/acl/groups/{board.id}").get_data(as_text=True)
    assert "Er is geen gebruiker met dat e-mailadres." in page

    post(admin, f"/avg/acl/groups/{board.id}/members/{member_id}/remove", {})
    db.session.rollback()
    assert db.session.get(GroupMember, (member_id, board.id)) is None
    assert audit_actions() == ["acl.member.add", "acl.member.remove"]


def test_the_last_super_user_cannot_be_removed(app, users):
    su = group("super_user")
    only = str(users["super_user"].id)
    su_client = client_for(app, users["super_user"])
    before = acl_snapshot()
    post(su_client, f"/avg/acl/groups/{su.id}/members/{only}/remove", {})
    assert acl_snapshot() == before
    page = su_client.get(f"/avg/acl/groups/{su.id}").get_data(as_text=True)
    assert "dit is de laatste superbeheerder" in page
    # Removing themself would also lock them out (they are otherwise a plain member) ...
    post(su_client, f"/avg/acl/groups/{su.id}/members", {"email": "m3@example.org"})
    post(su_client, f"/avg/acl/groups/{su.id}/members/{only}/remove", {})
    db.session.rollback()
    assert db.session.get(GroupMember, (only, su.id)) is not None
    # ... but the second super user may remove the first.
    second = client_for(app, users["administrator"])
    post(second, f"/avg/acl/groups/{su.id}/members/{only}/remove", {})
    db.session.rollback()
    assert db.session.get(GroupMember, (only, su.id)) is None


def test_only_a_super_user_changes_who_is_one(admin, users):
    su = group("super_user")
    before = acl_snapshot()
    post(admin, f"/avg/acl/groups/{su.id}/members", {"email": "m3@example.org"})
    post(admin, f"/avg/acl/groups/{su.id}/members/{users['super_user'].id}/remove", {})
    assert acl_snapshot() == before
    page = admin.get(f"/avg/acl/groups/{su.id}").get_data(as_text=True)
    assert "Alleen een superbeheerder" in page


def test_an_edit_that_locks_the_editor_out_is_refused(admin, users):
    member, administrator = group("member"), group("administrator")
    before = acl_snapshot()
    # Denying ACL management to Members would reach the administrator too (deny wins).
    post(admin, f"/avg/acl/groups/{member.id}/rules", {"rule-avg.acl.manage": "deny"})
    # Removing themself from the Administrator group.
    me = str(users["administrator"].id)
    post(admin, f"/avg/acl/groups/{administrator.id}/members/{me}/remove", {})
    # Making Administrator inherit instead of allow.
    post(admin, f"/avg/acl/groups/{administrator.id}/rules", {"rule-avg.acl.manage": "inherit"})
    # Moving Administrator out of the tree is fine (it allows avg.acl.manage itself) ...
    assert acl_snapshot() == before
    page = admin.get("/avg/acl").get_data(as_text=True)
    assert "zou je de toegangsrechten zelf niet meer kunnen beheren" in page
    assert admin.get("/avg/acl").status_code == 200


def test_a_super_user_may_give_up_administrator_membership(app, users):
    su_client = client_for(app, users["super_user"])
    administrator = group("administrator")
    admin_id = str(users["administrator"].id)
    post(su_client, f"/avg/acl/groups/{administrator.id}/members/{admin_id}/remove", {})
    db.session.rollback()
    assert db.session.get(GroupMember, (admin_id, administrator.id)) is None


def test_matrix_shows_calculated_result_and_why(admin):
    board, administrator = group("board"), group("administrator")
    response = post(
        admin,
        f"/avg/acl/groups/{board.id}/rules",
        {"rule-avg.special.view": "allow", "rule-avg.audit.export": "deny"},
    )
    assert response.status_code == 302
    db.session.rollback()
    rules = {
        r.action: r.allow for r in db.session.scalars(select(Rule).where(Rule.group_id == board.id))
    }
    assert rules["avg.special.view"] is True and rules["avg.audit.export"] is False
    page = admin.get(f"/avg/acl/groups/{administrator.id}").get_data(as_text=True)
    row = page[page.index('data-action="avg.special.view"') :][:1200]
    assert 'data-result="allowed"' in row and "Toegestaan, overgenomen van Bestuur" in row
    row = page[page.index('data-action="avg.audit.export"') :][:1200]
    assert 'data-result="denied"' in row and "Geweigerd, overgenomen van Bestuur" in row
    row = page[page.index('data-action="avg.acl.manage"') :][:1200]
    assert "Hier toegestaan" in row
    detail = (
        db.session.scalars(select(AuditEntry).where(AuditEntry.action == "acl.rules.set"))
        .one()
        .detail
    )
    assert detail == {
        "group": "board",
        "rules": {"avg.audit.export": "deny", "avg.special.view": "allow"},
    }
    db.session.rollback()


def test_unknown_rule_values_are_rejected(admin):
    board = group("board")
    before = acl_snapshot()
    response = post(admin, f"/avg/acl/groups/{board.id}/rules", {"rule-avg.self.view": "maybe"})
    assert response.status_code == 400
    assert acl_snapshot() == before


def test_a_change_reaches_another_process(app, db_url, admin, users):
    """A second app on the same database (another worker) sees the change at once."""
    from tests.support.app import make_app

    other = make_app(db_url)
    board_user = users["board"]
    other_client = client_for(other, board_user)
    assert other_client.get("/avg/members").status_code == 200
    post(admin, f"/avg/acl/groups/{group('board').id}/rules", {"rule-avg.members.view": "deny"})
    assert other_client.get("/avg/members").status_code == 403
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
