"""GroupTree against a small, independently written reference evaluator (hypothesis).

The reference follows Joomla's documented rules literally, group by group:
a group's calculated setting is its parent's when the parent's is a deny
(a deny cannot be overridden below), else its own explicit rule, else the
parent's; a user combines the calculated settings of their groups, where a
deny wins, any allow grants, and nothing means denied. Membership of a
Super User group passes everything.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_avg.features.acl.service import GroupNode, GroupTree

ACTIONS = ("a.one", "a.two", "a.three")


def reference_calculated(groups: dict[int, GroupNode], rules: dict, gid: int, action: str) -> Any:
    """True (allowed), False (denied) or None (not set) for one group, recursively."""
    grp = groups[gid]
    parent = (
        reference_calculated(groups, rules, grp.parent_id, action)
        if grp.parent_id is not None
        else None
    )
    if parent is False:
        return False
    own = rules.get((gid, action))
    return own if own is not None else parent


def reference_is_super(groups: dict[int, GroupNode], gid: int | None) -> bool:
    while gid is not None:
        if groups[gid].super_user:
            return True
        gid = groups[gid].parent_id
    return False


def reference_allowed(groups, rules, member_of, action) -> bool:
    if any(reference_is_super(groups, gid) for gid in member_of):
        return True
    settings_ = [reference_calculated(groups, rules, gid, action) for gid in member_of]
    if False in settings_:
        return False
    return True in settings_


@st.composite
def trees(draw: Any) -> tuple[dict[int, GroupNode], dict[tuple[int, str], bool], list[int]]:
    n = draw(st.integers(min_value=1, max_value=9))
    groups: dict[int, GroupNode] = {}
    for gid in range(1, n + 1):
        # Parents come earlier, so the structure is always a forest (no cycles).
        parent = None
        if gid > 1:
            parent = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=gid - 1)))
        is_super = draw(st.integers(min_value=0, max_value=6)) == 0
        groups[gid] = GroupNode(gid, f"g{gid}", f"Group {gid}", parent, is_super)
    rules = draw(
        st.dictionaries(
            st.tuples(st.integers(min_value=1, max_value=n), st.sampled_from(ACTIONS)),
            st.booleans(),
            max_size=3 * n,
        )
    )
    member_of = draw(st.lists(st.integers(min_value=1, max_value=n), max_size=4, unique=True))
    return groups, rules, member_of


@settings(max_examples=400, deadline=None)
@given(trees())
def test_decide_matches_the_reference(case):
    groups, rules, member_of = case
    tree = GroupTree(dict(groups), dict(rules))
    for action in ACTIONS:
        want = reference_allowed(groups, rules, member_of, action)
        decision = tree.decide(member_of, action)
        assert decision.allowed == want, (action, decision)
        # The reason names a group in the user's chains that really has that rule.
        chain = {a.id for gid in member_of for a in tree.ancestors(gid)}
        if decision.rule == "not set":
            assert decision.group is None and not want
        else:
            deciding = tree.by_key(decision.group)
            assert deciding.id in chain
            if decision.rule == "super user":
                assert deciding.super_user
            else:
                assert rules[(deciding.id, action)] is (decision.rule == "allow")
    assert tree.allowed_actions(member_of, ACTIONS) == {
        a for a in ACTIONS if reference_allowed(groups, rules, member_of, a)
    }


@settings(max_examples=200, deadline=None)
@given(trees())
def test_a_groups_calculated_setting_matches_the_reference(case):
    groups, rules, _member_of = case
    tree = GroupTree(dict(groups), dict(rules))
    for gid in groups:
        for action in ACTIONS:
            want = reference_is_super(groups, gid) or bool(
                reference_calculated(groups, rules, gid, action)
            )
            assert tree.decide([gid], action).allowed == want


@settings(max_examples=200, deadline=None)
@given(trees(), st.sampled_from(ACTIONS))
def test_a_deny_is_inherited_by_every_descendant(case, action):
    groups, rules, _member_of = case
    tree = GroupTree(dict(groups), dict(rules))
    for (gid, act), allow in rules.items():
        if act != action or allow:
            continue
        for below in tree.descendants(gid) | {gid}:
            if not reference_is_super(groups, below):
                assert not tree.decide([below], action).allowed


@settings(max_examples=200, deadline=None)
@given(trees())
def test_walk_visits_every_group_once_parents_first(case):
    groups, rules, _ = case
    tree = GroupTree(dict(groups), dict(rules))
    order = [grp.id for _depth, grp in tree.walk()]
    assert sorted(order) == sorted(groups)
    for gid in order:
        parent = groups[gid].parent_id
        if parent is not None:
            assert order.index(parent) < order.index(gid)


def test_a_tree_stored_in_the_database_loads_to_the_same_answers(app):
    """On every database leg: random groups and rules round-trip through the tables."""
    import itertools
    import random

    from example_app.models import db
    from flask_avg.features.acl.models import Group, Rule

    rng = random.Random(7)
    db_ids: list[int] = []
    groups: dict[int, GroupNode] = {}
    rules: dict[tuple[int, str], bool] = {}
    for n in range(10):
        parent = rng.choice([None, *db_ids]) if db_ids else None
        grp = Group(key=f"p{n}", title=f"P{n}", parent_id=parent, super_user=n == 9)
        db.session.add(grp)
        db.session.flush()
        db_ids.append(grp.id)
        groups[grp.id] = GroupNode(grp.id, grp.key, grp.title, parent, n == 9)
    for gid in db_ids:
        for action in ACTIONS:
            choice = rng.choice([None, None, True, False])
            if choice is not None:
                db.session.add(Rule(group_id=gid, action=action, allow=choice))
                rules[(gid, action)] = choice
    db.session.commit()

    tree = GroupTree.load(db.session)
    assert {gid: tree.groups[gid] for gid in db_ids} == groups
    for size in (1, 2):
        for member_of in itertools.combinations(db_ids, size):
            for action in ACTIONS:
                want = reference_allowed(groups, rules, list(member_of), action)
                assert tree.decide(member_of, action).allowed == want
