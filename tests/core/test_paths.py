"""A row reachable along two foreign-key paths (a comment on a post and in a thread)
is refused until the host chooses with ``ModelPolicy(via=...)``; the chosen paths
then count everywhere: export, erasure, purge, the erasure preview, breaches."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from flask_avg import ConfigurationError, ModelPolicy
from flask_avg.extension import get_state
from flask_avg.features.export.service import export_subject
from flask_avg.features.retention.erase import check
from flask_avg.features.retention.plan import Plan
from flask_avg.features.retention.service import erase_subject, purge
from tests.support.forum_club import Club, declare, make_app, running

POST_PATH = "fc_comments -post_id-> fc_posts -author_id-> fc_members"
THREAD_PATH = "fc_comments -thread_id-> fc_threads -starter_id-> fc_members"


def _ids(club: Club, model: Any) -> set[int]:
    return set(club.db.session.scalars(select(model.id)))


def _owned(club: Club, name: str, member: Any) -> set[int]:
    state = get_state()
    found = state.resolver.rows_for(club.db.session, member.id)
    return {row.id for model, rows in found.items() if model.name == name for row in rows}


def _forum(club: Club) -> dict[str, Any]:
    """Ann writes a post, Bob starts a thread; comments on the post, in the thread, both."""
    ann, bob, cas = club.member("Ann"), club.member("Bob"), club.member("Cas")
    post, thread = club.post(ann), club.thread(bob)
    both = club.comment(post=post, thread=thread)
    thread_only = club.comment(thread=thread)
    post_only = club.comment(post=post)
    club.db.session.commit()
    return {
        "ann": ann.id,
        "bob": bob.id,
        "cas": cas.id,
        "post": post.id,
        "thread": thread.id,
        "both": both.id,
        "thread_only": thread_only.id,
        "post_only": post_only.id,
    }


def test_two_paths_are_refused_without_via():
    club = declare()
    with pytest.raises(ConfigurationError) as err:
        make_app(club)
    text = str(err.value)
    assert "Comment: reaches the subject along 2 foreign-key paths" in text
    assert "ModelPolicy(via=...)" in text
    assert POST_PATH in text and THREAD_PATH in text
    # one path each; a message's sender and recipient are one hop with two keys
    assert "Post:" not in text and "Thread:" not in text and "Message:" not in text


@pytest.mark.parametrize(
    "via", ["all", ("post_id", "thread_id"), ("post", "thread"), ("fc_posts", "fc_threads")]
)
def test_via_all_follows_every_path(via: Any):
    club = declare(ModelPolicy(via=via))
    app = make_app(club)
    with app.app_context():
        comment = get_state().registry.get("Comment")
        assert len(comment.paths) == 2 and comment.candidates == comment.paths


@pytest.mark.parametrize("via", ["post", "post_id", "fc_posts", "fc_comments.post_id"])
def test_via_chooses_one_path_by_relationship_column_or_table(via: str):
    club = declare(ModelPolicy(via=via))
    app = make_app(club)
    with app.app_context():
        comment = get_state().registry.get("Comment")
        assert [h.dst.name for h in comment.path] == ["fc_posts", "fc_members"]
        assert len(comment.paths) == 1 and len(comment.candidates) == 2


def test_via_naming_nothing_on_the_paths_is_refused():
    club = declare(ModelPolicy(via="fc_messages"))
    with pytest.raises(ConfigurationError) as err:
        make_app(club)
    assert "Comment: via 'fc_messages' names no column, relationship or table" in str(err.value)
    assert POST_PATH in str(err.value)


def test_check_lists_every_path_and_marks_the_followed(tmp_path):
    club = declare(ModelPolicy(via="thread"))
    app = make_app(club, f"sqlite:///{tmp_path / 'c.db'}")
    result = app.test_cli_runner().invoke(args=["avg", "check"])
    assert result.exit_code == 0, result.output
    assert f"  path (not followed): {POST_PATH}" in result.output
    assert f"  path (followed): {THREAD_PATH}" in result.output
    assert "  path (followed): fc_posts -author_id-> fc_members" in result.output
    assert "  path (followed): fc_messages -sender_id|recipient_id-> fc_members" in result.output
    assert "  shared by: sender_id, recipient_id (erased for all)" in result.output
    app.test_cli_runner().invoke(args=["avg", "check"])
    with app.app_context():
        club.db.engine.dispose()


def _export(club: Club, member_id: int) -> Any:
    """The member's JSON export, parsed."""
    member = club.db.session.get(club.Member, member_id)
    out = io.BytesIO()
    export_subject(get_state(), member, "json", out, special=False, actor="test")
    return json.loads(out.getvalue())


def test_via_all_exports_erases_and_purges_along_both_paths(db_url):
    club = declare(ModelPolicy(via="all"))
    with running(club, db_url):
        ids = _forum(club)
        db = club.db
        state = get_state()
        assert _owned(club, "Comment", club.Member(id=ids["bob"])) == {
            ids["both"],
            ids["thread_only"],
        }
        assert _owned(club, "Comment", club.Member(id=ids["ann"])) == {
            ids["both"],
            ids["post_only"],
        }
        # the export reads the same rows
        exported = json.dumps(_export(club, ids["bob"]))
        assert exported.count("a comment") == 2
        # the erasure preview counts them, and says one comment is also Ann's
        plan = Plan(state, date.today())
        checks = {c.model: c for c in check(state, plan, ids["bob"])}
        assert checks["Comment"].rows == 2
        shared = checks["Comment"].shared
        assert shared is not None and (shared.rows, shared.action) == (1, "delete")
        # breaches: the people behind a comment
        comment = state.registry.get("Comment")
        owners = db.session.scalars(
            state.resolver.owners_of(comment, club.Comment.id == ids["both"])
        ).all()
        assert sorted(owners) == sorted([ids["ann"], ids["bob"]])

        result = erase_subject(state, ids["bob"], actor="test")
        removed = {o.model: o.count for o in result.removed}
        assert removed["Comment"] == 2 and removed["Thread"] == 1
        assert _ids(club, club.Comment) == {ids["post_only"]}
        assert _ids(club, club.Post) == {ids["post"]}

        # the purge erases Ann (membership long over) along the post path
        db.session.get(club.Member, ids["ann"]).left_on = date(2000, 1, 1)
        db.session.commit()
        purge(state, date(2026, 1, 1), actor="test")
        assert _ids(club, club.Comment) == set()
        assert _ids(club, club.Post) == set()
        assert _ids(club, club.Member) == {ids["cas"]}


def test_via_one_path_counts_only_that_path(db_url):
    club = declare(ModelPolicy(via="post"))
    with running(club, db_url):
        ids = _forum(club)
        db = club.db
        state = get_state()
        assert _owned(club, "Comment", club.Member(id=ids["bob"])) == set()
        assert _owned(club, "Comment", club.Member(id=ids["ann"])) == {
            ids["both"],
            ids["post_only"],
        }
        assert "a comment" not in json.dumps(_export(club, ids["bob"]))
        plan = Plan(state, date.today())
        assert {c.model: c.rows for c in check(state, plan, ids["bob"])}["Comment"] == 0

        # Bob goes: no comment is his; his thread stays while comments point to it
        result = erase_subject(state, ids["bob"], actor="test")
        assert "Comment" not in {o.model for o in result.removed}
        assert _ids(club, club.Comment) == {ids["both"], ids["thread_only"], ids["post_only"]}
        assert _ids(club, club.Thread) == {ids["thread"]}
        # Ann goes: the comments on her post go with it, the thread-only one stays
        erase_subject(state, ids["ann"], actor="test")
        assert _ids(club, club.Comment) == {ids["thread_only"]}
        assert _ids(club, club.Post) == set()
        n = db.session.scalar(select(func.count()).select_from(club.Thread))
        assert n == 1
