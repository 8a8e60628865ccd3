"""Rows pointing to rows of their own table, on every database leg.

A nullable self-reference is set to NULL when the row it points to goes; a NOT
NULL one keeps that row while the pointing row stays; rows that all go, go
together (MariaDB checks foreign keys row by row, so the order matters there).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select

from flask_avg.extension import get_state
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.service import erase_subject, purge
from tests.support.linked_club import (
    Account,
    Message,
    Person,
    Post,
    db,
    message,
    person,
    post,
    running,
)


@pytest.fixture
def club(db_url: str) -> Iterator[Flask]:
    with running(db_url) as app:
        yield app


def _ids(model: type) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(model.id)))  # type: ignore[attr-defined]


def _ledger() -> set[tuple[str, str, str]]:
    rows = db.session.execute(select(LedgerEntry.model, LedgerEntry.key, LedgerEntry.action))
    return {tuple(r) for r in rows}  # type: ignore[misc]


def test_member_another_member_was_introduced_by_is_deleted_and_the_link_dropped(club):
    elder = person("elder")
    gone = person("gone", introduced_by=elder)
    newer = person("newer", introduced_by=gone)
    db.session.commit()
    gone_id, newer_id, elder_id = gone.id, newer.id, elder.id
    result = erase_subject(get_state(), gone_id)
    assert {o.model: o.count for o in result.removed} == {"Person": 1}
    assert _ids(Person) == {elder_id, newer_id}
    assert db.session.get(Person, newer_id).introduced_by_id is None
    assert _ledger() == {("Person", str(gone_id), "deleted")}


def test_anonymised_member_keeps_the_links_to_it(club):
    gone = person("gone")
    newer = person("newer", introduced_by=gone)
    db.session.commit()
    state = get_state()
    state.settings.set("retention.erase.Person", "anonymise")
    db.session.commit()
    erase_subject(state, gone.id)
    db.session.expire_all()
    assert db.session.get(Person, gone.id).name == "anon"
    # the kept member's link points to a row without personal data now
    assert db.session.get(Person, newer.id).introduced_by_id == gone.id


def test_reply_and_original_of_the_erased_member_both_go(club):
    a, b, c = person("a"), person("b"), person("c")
    original = message(a, b)
    message(b, a, reply_to=original)  # the other branch (recipient) of the same member
    forwarded = message(b, c, reply_to=original)  # not a's: kept, without the link
    db.session.commit()
    forwarded_id = forwarded.id
    result = erase_subject(get_state(), a.id)
    assert {o.model: o.count for o in result.removed} == {"Message": 2, "Person": 1}
    assert _ids(Message) == {forwarded_id}
    assert db.session.get(Message, forwarded_id).reply_to_id is None


def test_not_null_self_reference_keeps_what_kept_posts_point_to(club):
    a, b, c = person("a"), person("b"), person("c")
    root = post(1, c)
    kept_parent = post(2, a, root)  # b answered it: stays while b's post does
    post(3, a, kept_parent)
    post(4, a, 3)  # 2 <- 3 <- 4: a's own chain, deleted leaves first
    post(5, b, kept_parent)
    own_thread = post(6, a)  # points to itself: MariaDB cannot delete it, so it stays
    db.session.commit()
    a_id = a.id
    result = erase_subject(get_state(), a_id)
    assert {o.model: o.count for o in result.removed} == {"Post": 2}
    retained = {o.model: o.count for o in result.retained}
    assert retained == {"Post": 2}
    assert _ids(Post) == {root, kept_parent, 5, own_thread}
    # a's posts still point to a: a is anonymised instead of deleted
    assert {o.model for o in result.anonymised} == {"Person"}
    assert db.session.get(Person, a_id).name == "anon"


def test_purge_deletes_members_pointing_to_each_other_in_one_batch(club):
    first = person("first")
    second = person("second", introduced_by=first)
    stays = person("stays", introduced_by=second)
    for gone in (first, second):
        gone.left_on = date(2020, 1, 1)
        message(gone, stays, on=date(2019, 6, 1))
    old = message(stays, first, on=date(2019, 6, 1))
    message(first, stays, reply_to=old, on=date(2019, 7, 1))
    db.session.commit()
    stays_id = stays.id
    state = get_state()
    state.settings.set("retention.members.days", 365)
    db.session.commit()
    result = purge(state, date(2026, 1, 1))
    assert result.categories["members"]["Person"].deleted == 2
    assert _ids(Person) == {stays_id}
    assert db.session.get(Person, stays_id).introduced_by_id is None
    assert _ids(Message) == set()
    assert {action for _m, _k, action in _ledger()} == {"deleted"}


def test_purge_of_expired_rows_waits_for_kept_rows_of_the_same_table(club):
    a, b = person("a"), person("b")
    thread = post(1, a, on=date(2030, 1, 1))  # not expired: the thread stays
    post(2, a, thread, on=date(2015, 1, 1))
    post(3, b, 2, on=date(2024, 1, 1))  # not expired in 2026, expired in 2030
    post(4, b, 3, on=date(2015, 1, 1))
    old = message(a, b, on=date(2015, 1, 1))
    newer = message(b, a, reply_to=old, on=date(2024, 1, 1))
    db.session.commit()
    newer_id = newer.id
    state = get_state()
    state.settings.set("retention.members.days", 3 * 365)
    db.session.commit()
    result = purge(state, date(2026, 1, 1))
    # 2 is expired but 3, not expired, answers it; 4 answers nothing
    assert _ids(Post) == {1, 2, 3}
    assert result.categories["members"]["Post"].deleted == 1
    assert result.categories["members"]["Post"].blocked == 1
    # the expired message goes; the newer reply stays without its link
    assert _ids(Message) == {newer_id}
    assert db.session.get(Message, newer_id).reply_to_id is None
    purge(state, date(2028, 1, 2))
    assert _ids(Post) == {1}  # 3 and 2 went together, leaves first


def test_login_account_another_account_points_to_is_deleted_and_unlinked(club):
    inviter = person("inviter", login=True)
    invited = person("invited", login=True)
    db.session.get(Account, invited.account_id).invited_by_id = inviter.account_id
    db.session.commit()
    gone_account, kept_account = inviter.account_id, invited.account_id
    result = erase_subject(get_state(), inviter.id)
    assert {o.model: o.count for o in result.removed} == {"Account": 1, "Person": 1}
    assert _ids(Account) == {kept_account}
    assert db.session.get(Account, kept_account).invited_by_id is None
    assert ("Account", str(gone_account), "deleted") in _ledger()
