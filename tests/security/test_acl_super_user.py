"""Super User stays out of reach and never disappears, whatever the route.

Only a Super User changes anything in the Super User subtree (the group and any
group below it, whose members pass every check too); the last living Super User
cannot be removed, moved away, deleted, erased, purged or cleaned up as stale.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from example_app.models import Member, User, db
from flask_avg import ErasureRefused
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.acl import admin as acl_admin
from flask_avg.features.acl.models import Group, GroupMember
from flask_avg.features.retention.service import erase_subject, purge
from tests.support.acl import acl_snapshot, client_for, group, make_users
from tests.support.app import csrf_token

REFUSED_NL = "dit is de laatste superbeheerder"
REFUSED_EN = "this is the last Super User"
ONLY_SU_NL = "Alleen een superbeheerder"


@pytest.fixture
def users(app):
    return make_users()


def post(client, url, data=None):
    token = csrf_token(client, "/avg/acl")
    return client.post(url, data={"csrf_token": token, **(data or {})})


def sub_of_super() -> Group:
    """A group below Super User, made from the command line (which may always)."""
    return acl_admin.add_group(get_state(), "Noodbeheer", group("super_user").id)


def member_of(user) -> Member:
    return db.session.scalars(select(Member).where(Member.user_id == user.id)).one()


def supers() -> set[str]:
    db.session.rollback()
    return acl_admin.living_super_users(get_state())


# -- the administrator cannot reach Super User ------------------------------------------


def test_administrator_cannot_create_a_group_under_super_user_or_below_it(app, users):
    admin = client_for(app, users["administrator"])
    sub = sub_of_super()
    before = acl_snapshot()
    for parent in (group("super_user").id, sub.id):
        post(admin, "/avg/acl/groups", {"title": "Stiekem", "parent": parent})
    assert acl_snapshot() == before
    assert ONLY_SU_NL in admin.get("/avg/acl").get_data(as_text=True)
    assert str(users["administrator"].id) not in supers()


def test_administrator_cannot_move_a_group_into_or_out_of_the_subtree(app, users):
    admin = client_for(app, users["administrator"])
    sub = sub_of_super()
    administrator, board = group("administrator"), group("board")
    before = acl_snapshot()
    post(admin, f"/avg/acl/groups/{administrator.id}/move", {"parent": group("super_user").id})
    post(admin, f"/avg/acl/groups/{administrator.id}/move", {"parent": sub.id})
    post(admin, f"/avg/acl/groups/{sub.id}/move", {"parent": board.id})
    assert acl_snapshot() == before
    assert str(users["administrator"].id) not in supers()


def test_administrator_cannot_join_rename_rule_or_delete_in_the_subtree(app, users):
    admin = client_for(app, users["administrator"])
    sub = sub_of_super()
    su = group("super_user")
    before = acl_snapshot()
    for grp in (su, sub):
        post(admin, f"/avg/acl/groups/{grp.id}/members", {"email": "m3@example.org"})
        post(admin, f"/avg/acl/groups/{grp.id}/rename", {"title": "Beheer"})
        post(admin, f"/avg/acl/groups/{grp.id}/rules", {"rule-avg.acl.manage": "deny"})
    post(admin, f"/avg/acl/groups/{sub.id}/delete")
    post(admin, f"/avg/acl/groups/{su.id}/members/{users['super_user'].id}/remove")
    assert acl_snapshot() == before
    page = admin.get(f"/avg/acl/groups/{sub.id}").get_data(as_text=True)
    assert ONLY_SU_NL in page


def test_a_super_user_may_build_below_super_user(app, users):
    su_client = client_for(app, users["super_user"])
    su = group("super_user")
    post(su_client, "/avg/acl/groups", {"title": "Noodbeheer", "parent": su.id})
    sub = group("noodbeheer")
    assert sub.parent_id == su.id
    post(su_client, f"/avg/acl/groups/{sub.id}/members", {"email": "m3@example.org"})
    assert str(users["administrator"].id) in supers()


def test_the_cli_may_always(app, users):
    runner = app.test_cli_runner()
    done = runner.invoke(args=["avg", "acl", "assign", "m3@example.org", "super_user"])
    assert done.exit_code == 0, done.output
    assert str(users["administrator"].id) in supers()


# -- the last living Super User ----------------------------------------------------------


def test_last_super_user_in_a_subgroup_cannot_be_moved_or_deleted_away(app, users):
    """The only Super User sits in a group below Super User: moving that group out, or
    deleting it, would leave nobody; refused even from the command line."""
    state = get_state()
    sub = sub_of_super()
    su = group("super_user")
    only = str(users["super_user"].id)
    acl_admin.add_member(state, sub, users["super_user"])
    acl_admin.remove_member(state, su, only)
    assert supers() == {only}
    before = acl_snapshot()
    with pytest.raises(acl_admin.AclRefused, match="laatste superbeheerder"):
        acl_admin.move_group(state, db.session.get(Group, sub.id), group("board").id)
    with pytest.raises(acl_admin.AclRefused, match="laatste superbeheerder"):
        acl_admin.delete_group(state, db.session.get(Group, sub.id))
    with pytest.raises(acl_admin.AclRefused, match="laatste superbeheerder"):
        acl_admin.remove_member(state, db.session.get(Group, sub.id), only)
    assert acl_snapshot() == before


def test_a_dead_accounts_membership_is_no_living_super_user(app, users):
    su = group("super_user")
    only = str(users["super_user"].id)
    # a membership row left behind by an account that no longer exists
    db.session.add(GroupMember(user_id="987654", group_id=su.id))
    db.session.commit()
    assert supers() == {only}
    with pytest.raises(acl_admin.AclRefused, match="laatste superbeheerder"):
        acl_admin.remove_member(get_state(), group("super_user"), only)


def test_board_cannot_erase_the_last_super_user_and_is_told_why(app, users):
    board = client_for(app, users["board"])
    target = member_of(users["super_user"])
    target_id, only = target.id, str(users["super_user"].id)
    db.session.add(GroupMember(user_id="987654", group_id=group("super_user").id))
    db.session.commit()
    url = f"/avg/members/{target_id}/erase"
    page = board.get(url)
    assert REFUSED_NL in page.get_data(as_text=True)  # said before the button is pressed
    token = csrf_token(board, url)
    refused = board.post(url, data={"csrf_token": token})
    assert refused.status_code == 409
    assert REFUSED_NL in refused.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Member, target_id).first_name == "Voornaam4"
    assert supers() == {only}
    erased = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
    assert list(erased) == []
    board.get("/avg/lang/en")
    token = csrf_token(board, url)
    english = board.post(url, data={"csrf_token": token}).get_data(as_text=True)
    assert REFUSED_EN in english


def test_with_a_second_living_super_user_the_first_may_be_erased(app, users):
    state = get_state()
    acl_admin.add_member(state, group("super_user"), users["administrator"])
    target = member_of(users["super_user"])
    result = erase_subject(state, target.id, reason="board")
    assert result.subject_id == target.id
    assert supers() == {str(users["administrator"].id)}
    # and now the second is the last one
    with pytest.raises(ErasureRefused, match="laatste superbeheerder"):
        erase_subject(state, member_of(users["administrator"]).id)


def test_an_erasure_request_for_the_last_super_user_stays_open(app, users):
    from flask_avg.features.requests import service as reqs

    target = member_of(users["super_user"])
    req = reqs.DataRequest(
        subject=str(target.id),
        user_id=str(users["super_user"].id),
        kind="erasure",
        status="in_progress",
        deadline=datetime(2099, 1, 1, tzinfo=UTC),
    )
    db.session.add(req)
    db.session.commit()
    board = client_for(app, users["board"])
    # "complete" never erases in one click: it leads to the erasure's preview ...
    token = csrf_token(board, f"/avg/requests/{req.id}")
    response = board.post(
        f"/avg/requests/{req.id}", data={"csrf_token": token, "status": "completed"}
    )
    assert response.status_code == 302
    assert response.location.endswith(f"/avg/requests/{req.id}/erase")
    # ... which already says why this erasure is refused ...
    preview = board.get(f"/avg/requests/{req.id}/erase")
    assert preview.status_code == 200 and REFUSED_NL in preview.get_data(as_text=True)
    # ... and confirming it anyway is refused: the request stays open
    token = csrf_token(board, f"/avg/requests/{req.id}/erase")
    response = board.post(f"/avg/requests/{req.id}/erase", data={"csrf_token": token})
    assert response.status_code == 409
    assert REFUSED_NL in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(reqs.DataRequest, req.id).status == "in_progress"
    assert db.session.get(Member, target.id).first_name == "Voornaam4"


def test_cli_erase_of_the_last_super_user_exits_1(app, users):
    target = member_of(users["super_user"])
    done = app.test_cli_runner().invoke(args=["avg", "erase", str(target.id)])
    assert done.exit_code == 1
    assert "erase refused" in done.output and "laatste superbeheerder" in done.output
    db.session.rollback()
    assert db.session.get(Member, target.id).first_name == "Voornaam4"


def test_purge_keeps_the_last_super_user_counts_it_and_purges_the_rest(app, users):
    state = get_state()
    for level in ("super_user", "board"):
        member_of(users[level]).end_date = date(2020, 1, 1)
    state.settings.set("retention.members.days", 365)
    db.session.commit()
    kept, gone = member_of(users["super_user"]).id, member_of(users["board"]).id
    result = purge(state, date(2026, 1, 1))
    assert result.refused == 1
    db.session.expire_all()
    assert db.session.get(Member, kept).first_name == "Voornaam4"
    assert db.session.get(Member, gone).first_name == "anon"
    assert supers() == {str(users["super_user"].id)}
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention.purge")
    ).one()
    assert '"refused": 1' in entry.detail_json
    # once someone else is Super User, the next purge takes them
    acl_admin.add_member(state, group("super_user"), users["administrator"])
    assert purge(state, date(2026, 1, 1)).refused == 0
    db.session.expire_all()
    assert db.session.get(Member, kept).first_name == "anon"


def test_two_expiring_super_users_in_one_batch_both_stay(app, users):
    state = get_state()
    acl_admin.add_member(state, group("super_user"), users["administrator"])
    for level in ("super_user", "administrator"):
        member_of(users[level]).end_date = date(2020, 1, 1)
    state.settings.set("retention.members.days", 365)
    db.session.commit()
    result = purge(state, date(2026, 1, 1))
    assert result.refused == 2  # neither may go alone: both wait for a new Super User
    assert len(supers()) == 2


def test_stale_account_cleanup_never_takes_a_super_user(app, users):
    state = get_state()
    account = User(email="nood@example.org", password_hash="x", last_login=datetime(2019, 1, 1))
    db.session.add(account)
    db.session.commit()
    acl_admin.add_member(state, group("super_user"), account)
    acl_admin.remove_member(state, group("super_user"), str(users["super_user"].id))
    assert supers() == {str(account.id)}
    app.config["AVG_STALE_ACCOUNT_DAYS"] = 365
    purge(state, date(2026, 1, 1))
    db.session.expire_all()
    assert db.session.get(User, account.id) is not None
    assert supers() == {str(account.id)}
