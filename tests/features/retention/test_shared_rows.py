"""Rows shared by two members (a message's sender and recipient): by default erasing
either removes the row for both; with ``ModelPolicy(shared="keep")`` it stays for the
other, without the erased member's link and their ``personal(party=...)`` columns."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from flask_avg import ConfigurationError, ModelPolicy, personal
from flask_avg.extension import get_state
from flask_avg.features.retention.erase import check
from flask_avg.features.retention.plan import Plan
from flask_avg.features.retention.preview import shared, shared_on_purge
from flask_avg.features.retention.service import erase_subject, purge
from tests.support.forum_club import Club, declare, make_app, running

KEEP = ModelPolicy(shared="keep")


def _messages(club: Club) -> dict[int, tuple[Any, ...]]:
    M = club.Message
    rows = club.db.session.execute(
        select(M.id, M.sender_id, M.recipient_id, M.sender_name, M.recipient_name, M.body)
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def _three(club: Club) -> tuple[int, int, int]:
    ann, bob, cas = club.member("Ann"), club.member("Bob"), club.member("Cas")
    return ann.id, bob.id, cas.id


def test_default_deletes_a_shared_row_for_everyone(db_url):
    club = declare(ModelPolicy(via="all"))
    with running(club, db_url):
        ann, bob, _cas = _three(club)
        m = club.Member
        club.message(club.db.session.get(m, ann), club.db.session.get(m, bob))
        club.db.session.commit()
        result = erase_subject(get_state(), ann, actor="test")
        assert {o.model: o.count for o in result.removed}["Message"] == 1
        assert _messages(club) == {}


def test_keep_leaves_the_row_to_the_other_party(db_url):
    club = declare(ModelPolicy(via="all"), KEEP)
    with running(club, db_url):
        session = club.db.session
        ann, bob, cas = (session.get(club.Member, k) for k in _three(club))
        to_bob = club.message(ann, bob).id
        from_bob = club.message(bob, ann).id
        to_nobody = club.message(ann, None).id  # a recipient long gone
        between_others = club.message(bob, cas).id
        session.commit()
        ann_id, bob_id, cas_id = ann.id, bob.id, cas.id
        state = get_state()

        checks = {c.model: c for c in check(state, Plan(state, date.today()), ann_id)}
        assert checks["Message"].rows == 3
        found = checks["Message"].shared
        assert found is not None and (found.rows, found.action) == (2, "keep")
        assert set(found.columns) == {"Sender name", "Recipient name"}

        result = erase_subject(state, ann_id, actor="test")
        assert {o.model: o.count for o in result.removed}["Message"] == 1
        assert {o.model: o.count for o in result.anonymised}["Message"] == 2
        assert _messages(club) == {
            to_bob: (None, bob_id, None, "Bob", "from Ann"),
            from_bob: (bob_id, None, "Bob", None, "from Bob"),
            between_others: (bob_id, cas_id, "Bob", "Cas", "from Bob"),
        }
        assert session.get(club.Member, ann_id) is None  # no row points to Ann any more
        assert to_nobody not in _messages(club)

        # Bob goes too: the rows only he still had go as usual, Cas keeps hers
        erase_subject(state, bob_id, actor="test")
        assert _messages(club) == {between_others: (None, cas_id, None, "Cas", "from Bob")}


def test_keep_in_a_purge_batch_of_both_parties(db_url):
    club = declare(ModelPolicy(via="all"), KEEP)
    with running(club, db_url):
        session = club.db.session
        ann, bob, cas = (session.get(club.Member, k) for k in _three(club))
        both_gone = club.message(ann, bob).id
        to_cas = club.message(ann, cas).id
        ann.left_on = bob.left_on = date(2000, 1, 1)
        session.commit()
        cas_id = cas.id
        state = get_state()

        found = shared_on_purge(state, as_of=date(2026, 1, 1))
        assert [(s.model, s.rows, s.action) for s in found] == [("Message", 1, "keep")]
        assert found[0].columns == ("Sender name",)

        result = purge(state, date(2026, 1, 1), actor="test")
        counts = result.categories["members"]["Message"]
        assert (counts.deleted, counts.unlinked) == (1, 1)
        assert both_gone not in _messages(club)
        assert _messages(club) == {to_cas: (None, cas_id, None, "Cas", "from Ann")}
        # a second run finds nothing left to do
        again = purge(state, date(2026, 1, 1), actor="test")
        assert again.categories.get("members", {}).get("Message") is None or (
            again.categories["members"]["Message"].unlinked == 0
        )


def test_keep_through_a_longer_path(db_url):
    """A comment on Ann's post in Bob's thread stays in the thread when Ann goes."""
    club = declare(ModelPolicy(via="all", shared="keep"))
    with running(club, db_url):
        session = club.db.session
        ann, bob, _cas = (session.get(club.Member, k) for k in _three(club))
        post, thread = club.post(ann), club.thread(bob)
        both = club.comment(post=post, thread=thread).id
        on_post = club.comment(post=post).id
        session.commit()
        ann_id = ann.id
        state = get_state()
        assert [(s.model, s.rows) for s in shared(state, Plan(state, date.today()), [ann_id])] == [
            ("Comment", 1)
        ]
        erase_subject(state, ann_id, actor="test")
        C = club.Comment
        left = session.execute(select(C.id, C.post_id, C.thread_id)).all()
        assert [tuple(r) for r in left] == [(both, None, thread.id)]
        assert on_post not in {r[0] for r in left}
        assert session.scalars(select(club.Post.id)).all() == []


def test_keep_needs_nullable_links():
    club = declare(ModelPolicy(via="all"), KEEP, links_nullable=False)
    with pytest.raises(ConfigurationError) as err:
        make_app(club)
    text = str(err.value)
    assert "Message.sender_id: shared='keep' sets an erased member's link to NULL" in text
    assert "Message.recipient_id: shared='keep'" in text


@pytest.mark.parametrize(
    ("message", "parties", "expected"),
    [
        (ModelPolicy(shared="forever"), False, "Message: shared must be 'delete' or 'keep'"),
        (ModelPolicy(), True, "Message.sender_name: party='sender_id' needs ModelPolicy(shared="),
        (
            ModelPolicy(shared="keep", columns={"body": personal("communication", party="x")}),
            True,
            "Message.body: party 'x' is not one of the row's links to members "
            "(sender_id, recipient_id)",
        ),
    ],
)
def test_shared_declaration_mistakes(message: ModelPolicy, parties: bool, expected: str):
    club = declare(ModelPolicy(via="all"), message, parties=parties)
    with pytest.raises(ConfigurationError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        make_app(club)


def test_keep_needs_two_links():
    club = declare(ModelPolicy(via="post", shared="keep"))
    with pytest.raises(ConfigurationError, match="Comment: shared='keep' is for rows that two"):
        make_app(club)
