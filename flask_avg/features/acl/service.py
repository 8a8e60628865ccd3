"""Joomla-style access control on top of Flask-Principal.

Groups form a tree and inherit their parent's rules. For each action a group
rule is *allowed*, *denied* or absent (inherited). A user's permission is
computed over every group they belong to and all those groups' ancestors:
an explicit deny anywhere wins over any allow, an allow anywhere grants, and
nothing at all means denied. A Super User group passes everything.

Visitors belong implicitly to ``public``; logged-in users to ``registered``,
and logged-in users that have a member record to ``member``, so a new member
starts with the self-service actions only (least privilege).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable, Iterator, MutableSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import g, has_request_context
from flask_login import current_user
from flask_principal import ActionNeed, Identity, Need
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.identity import host_roles, user_key
from flask_avg.core.stamps import ACL
from flask_avg.features.acl.models import Group, GroupMember, Rule

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: flask-avg's own actions: name -> label. Hosts add theirs with ``AVG.register_action``.
BUILTIN_ACTIONS: dict[str, Any] = {
    "avg.self.view": _l("See own personal data"),
    "avg.self.edit": _l("Correct own personal data"),
    "avg.self.export": _l("Download own personal data"),
    "avg.self.request": _l("File privacy requests"),
    "avg.members.view": _l("See members' personal data"),
    "avg.members.edit": _l("Change members' personal data"),
    "avg.members.export": _l("Export members' personal data"),
    "avg.members.erase": _l("Erase a member"),
    "avg.special.view": _l("See special-category data (health, ...)"),
    "avg.requests.handle": _l("Handle privacy requests"),
    "avg.retention.manage": _l("Manage retention settings"),
    "avg.fields.manage": _l("Choose which fields members may edit"),
    "avg.consent.manage": _l("Manage consent purposes and records"),
    "avg.register.manage": _l("Manage the register of processing activities"),
    "avg.breaches.manage": _l("Record and manage data breaches"),
    "avg.audit.view": _l("See the audit log"),
    "avg.audit.export": _l("Export the audit log"),
    "avg.acl.manage": _l("Manage groups and permissions"),
}

SELF_SERVICE = ("avg.self.view", "avg.self.edit", "avg.self.export", "avg.self.request")
BOARD = (
    "avg.members.view",
    "avg.members.edit",
    "avg.members.export",
    "avg.members.erase",
    "avg.requests.handle",
    "avg.retention.manage",
    "avg.fields.manage",
    "avg.consent.manage",
    "avg.register.manage",
    "avg.breaches.manage",
    "avg.audit.view",
    "avg.audit.export",
)


@dataclass(frozen=True)
class DefaultGroup:
    key: str
    title: str
    parent: str | None
    allow: tuple[str, ...] = ()
    super_user: bool = False


#: The club defaults: Public > Registered > Member > Board > Administrator, Super User apart.
DEFAULT_GROUPS = (
    DefaultGroup("public", "Public", None),
    DefaultGroup("registered", "Registered", "public"),
    DefaultGroup("member", "Member", "registered", SELF_SERVICE),
    DefaultGroup("board", "Board", "member", BOARD),
    DefaultGroup("administrator", "Administrator", "board", ("avg.acl.manage",)),
    DefaultGroup("super_user", "Super User", None, super_user=True),
)

PUBLIC, REGISTERED, MEMBER = "public", "registered", "member"

#: Translations of the default groups' titles, shown while a group keeps its default title.
DEFAULT_TITLES: dict[str, Any] = {
    "Public": _l("Public"),
    "Registered": _l("Registered"),
    "Member": _l("Member"),
    "Board": _l("Board"),
    "Administrator": _l("Administrator"),
    "Super User": _l("Super User"),
}


def group_need(key: str) -> Need:
    """The Principal need a flask-avg group gives: ``Need("avg_group", key)``, never a
    ``RoleNeed``, so the host's role checks cannot pass because of a flask-avg group."""
    return Need("avg_group", key)


def group_title(group: Any) -> str:
    """A group's title for display: default groups in the page's language until renamed."""
    spec = next((d for d in DEFAULT_GROUPS if d.key == group.key), None)
    if spec is not None and group.title == spec.title:
        return str(DEFAULT_TITLES[spec.title])
    return str(group.title)


@dataclass
class Decision:
    """Why an action is allowed or denied: the deciding group and rule, if any."""

    allowed: bool
    action: str
    group: str | None = None
    rule: str = "not set"  # "allow", "deny", "super user", "not set"

    def explain(self) -> str:
        if self.group is None:
            return "denied: no group allows it"
        word = "allowed" if self.allowed else "denied"
        return f"{word}: {self.rule} on group {self.group}"


@dataclass(frozen=True)
class GroupNode:
    """A snapshot of one :class:`~flask_avg.core.models.Group` row, safe to keep between requests."""

    id: int
    key: str
    title: str
    parent_id: int | None
    super_user: bool = False


@dataclass
class GroupTree:
    """All groups and rules, loaded once; answers any permission question in memory.

    ``groups`` maps id to anything with ``id``, ``key``, ``title``,
    ``parent_id`` and ``super_user`` (``load`` uses :class:`GroupNode`).
    """

    groups: dict[int, Any]
    rules: dict[tuple[int, str], bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_key = {grp.key: grp for grp in self.groups.values()}
        self._chains: dict[int, list[Any]] = {}

    @classmethod
    def load(cls, session: Session) -> GroupTree:
        groups = {
            grp.id: GroupNode(grp.id, grp.key, grp.title, grp.parent_id, bool(grp.super_user))
            for grp in session.scalars(select(Group))
        }
        rules = {(r.group_id, r.action): r.allow for r in session.scalars(select(Rule))}
        return cls(groups, rules)

    def by_key(self, key: str) -> Any:
        return self._by_key.get(key)

    def ancestors(self, group_id: int) -> list[Any]:
        """The group and its ancestors, root first."""
        cached = self._chains.get(group_id)
        if cached is not None:
            return cached
        chain: list[Any] = []
        seen: set[int] = set()
        current: int | None = group_id
        while current is not None and current not in seen and current in self.groups:
            seen.add(current)
            chain.append(self.groups[current])
            current = self.groups[current].parent_id
        chain.reverse()
        self._chains[group_id] = chain
        return chain

    def children(self, group_id: int | None) -> list[Any]:
        """Direct children of a group (``None``: the roots), by title."""
        kids = [grp for grp in self.groups.values() if grp.parent_id == group_id]
        if group_id is None:
            kids += [
                grp
                for grp in self.groups.values()
                if grp.parent_id is not None and grp.parent_id not in self.groups
            ]
        return sorted(kids, key=lambda grp: (str(grp.title).lower(), grp.id))

    def descendants(self, group_id: int) -> set[int]:
        """Ids of every group below ``group_id`` (not the group itself)."""
        return {
            gid
            for gid in self.groups
            if gid != group_id and any(a.id == group_id for a in self.ancestors(gid))
        }

    def walk(self) -> list[tuple[int, Any]]:
        """Every group as ``(depth, group)``, parents before children."""
        out: list[tuple[int, Any]] = []

        def visit(parent: int | None, depth: int) -> None:
            for grp in self.children(parent):
                out.append((depth, grp))
                visit(grp.id, depth + 1)

        visit(None, 0)
        return out

    def decide(self, group_ids: Iterable[int], action: str) -> Decision:
        """Joomla's calculated setting for a set of groups (a user, or one group).

        Super User anywhere in the chains passes; otherwise an explicit deny on
        any group or ancestor wins; otherwise an allow grants; otherwise denied.
        """
        chain = [grp for gid in group_ids for grp in self.ancestors(gid)]
        for grp in chain:
            if grp.super_user:
                return Decision(True, action, grp.key, "super user")
        allow_by: Any = None
        for grp in chain:
            value = self.rules.get((grp.id, action))
            if value is False:
                return Decision(False, action, grp.key, "deny")
            if value is True and allow_by is None:
                allow_by = grp
        if allow_by is not None:
            return Decision(True, action, allow_by.key, "allow")
        return Decision(False, action)

    def allowed_actions(self, group_ids: Iterable[int], actions: Iterable[str]) -> set[str]:
        ids = list(group_ids)
        chain = [grp for gid in ids for grp in self.ancestors(gid)]
        if any(grp.super_user for grp in chain):
            return set(actions)
        allowed: set[str] = set()
        for action in actions:
            values = {self.rules.get((grp.id, action)) for grp in chain}
            if True in values and False not in values:
                allowed.add(action)
        return allowed


#: ``avg_setting`` key whose value changes with every ACL change; processes
#: compare it to decide whether their cached :class:`GroupTree` is still current.
VERSION_KEY = "avg.acl.version"


def bump_version(session: Session) -> str:
    """Mark the groups and rules as changed, so every process reloads them."""
    from flask_avg.core.settings import Settings
    from flask_avg.core.stamps import bump

    version = uuid.uuid4().hex
    Settings(lambda: session).set(VERSION_KEY, version)
    bump(session, ACL)
    return version


@event.listens_for(Session, "before_flush")
def _stamp_acl_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Any ORM change to groups, memberships or rules bumps the version stamp in the same flush,
    so every process's cache notices it (bulk SQL statements: call ``Acl.changed()``)."""
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Group | GroupMember | Rule):
            with session.no_autoflush:
                bump_version(session)
            return


class _Cached:
    """One version of the ACL in a process: the tree and what was computed from it."""

    def __init__(self, version: Any, tree: GroupTree) -> None:
        self.version = version
        self.tree = tree
        #: (frozenset of group ids, number of actions) -> allowed actions
        self.allowed: dict[Any, frozenset[str]] = {}
        #: user id -> explicit group ids
        self.memberships: dict[str, list[int]] = {}
        #: (frozenset of group ids, number of actions) -> the needs they give
        self.needs: dict[Any, frozenset[Any]] = {}
        self._inherited: dict[frozenset[int], frozenset[int]] = {}

    def inherited(self, group_ids: Iterable[int]) -> frozenset[int]:
        """The groups and every group they inherit from (their ancestors)."""
        key = frozenset(group_ids)
        found = self._inherited.get(key)
        if found is None:
            found = frozenset(grp.id for gid in key for grp in self.tree.ancestors(gid))
            if len(self._inherited) >= MAX_CACHED_USERS:
                self._inherited.clear()
            self._inherited[key] = found
        return found


MAX_CACHED_USERS = 50_000


class LazyNeeds(MutableSet[Any]):
    """An identity's ``provides`` whose flask-avg needs are worked out when first read.

    Flask-Principal reads ``provides`` only when a permission is checked
    (``Permission.allows`` intersects it); other ``identity_loaded`` handlers
    (Flask-Security's, the host's) may ``add`` to it before, which costs nothing.
    It behaves as the set it becomes: every set method reads the needs first.
    """

    __slots__ = ("_base", "_load", "_set")

    def __init__(self, base: Iterable[Any], load: Any) -> None:
        self._base = set(base)
        self._load = load
        self._set: set[Any] | None = None

    def ready(self) -> set[Any]:
        """The needs as a plain set (worked out now if not yet)."""
        if self._set is None:
            self._base.update(self._load())
            self._set, self._load = self._base, None
        return self._set

    def __contains__(self, need: object) -> bool:
        return need in self.ready()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.ready())

    def __len__(self) -> int:
        return len(self.ready())

    def add(self, need: Any) -> None:
        self._base.add(need)

    def discard(self, need: Any) -> None:
        self.ready().discard(need)

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            self._base.update(other)

    def __getattr__(self, name: str) -> Any:
        # the rest of set's API (union, intersection, copy, issubset...) on the needs
        return getattr(self.ready(), name)

    def __repr__(self) -> str:
        return repr(self.ready()) if self._set is not None else "LazyNeeds(<not read yet>)"


class Acl:
    """Per-request permission answers for the current user, via Flask-Principal needs.

    The group tree and rules are cached per process and reloaded when the
    version stamp in ``avg_setting`` (:data:`VERSION_KEY`) changes; users'
    explicit memberships and the allowed actions of each combination of groups
    are cached with the tree. Any ORM change to groups, memberships or rules
    bumps the stamp in the same flush. Per request that leaves the settings
    query and the member-record lookup, both shared with the rest of flask-avg.
    """

    def __init__(self, state: AvgState) -> None:
        self.state = state
        self._cache: _Cached | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Session:
        return self.state.db.session  # type: ignore[no-any-return]

    def tree(self) -> GroupTree:
        """The current group tree, from the process cache when its version stamp still holds."""
        return self._entry().tree

    def _entry(self) -> _Cached:
        # the stamp, not the settings: one cheap statement per request, shared with
        # the erased-login guard (see flask_avg.core.stamps)
        if self.state.stamps.pending(ACL):  # changed in this transaction: not for others
            return _Cached(None, GroupTree.load(self.session))
        version = self.state.stamps.get(ACL)
        cached = self._cache
        if cached is not None and version is not None and cached.version == version:
            return cached
        with self._lock:
            entry = _Cached(version, GroupTree.load(self.session))
            self._cache = entry
        return entry

    def invalidate(self) -> None:
        """Drop this process's cached tree (others notice the bumped version stamp)."""
        self._cache = None

    def changed(self) -> str:
        """Call after changing groups, rules or memberships, in the same transaction."""
        self.invalidate()
        return bump_version(self.session)

    def user_group_ids(
        self, user: Any, tree: GroupTree, memberships: dict[str, list[int]] | None = None
    ) -> list[int]:
        """Explicit memberships plus the implicit public/registered/member groups.

        ``memberships`` is a cache of explicit memberships by user id, valid for
        one ACL version; without it they are read from the session.
        """
        gids = self._group_ids(user, tree, memberships)
        if user is not None and getattr(user, "is_authenticated", False):
            member = tree.by_key(MEMBER)
            if member is not None and self.state.subject_for(user) is not None:
                gids = sorted({*gids, member.id})
        return gids

    def _group_ids(
        self, user: Any, tree: GroupTree, memberships: dict[str, list[int]] | None
    ) -> list[int]:
        """:meth:`user_group_ids` without the implicit ``member`` group, which takes a
        look at the user's member record."""
        implicit = [PUBLIC]
        explicit: list[int] = []
        if user is not None and getattr(user, "is_authenticated", False):
            implicit.append(REGISTERED)
            user_id = user_key(user) or ""
            known = memberships.get(user_id) if memberships is not None else None
            if known is None:
                known = list(
                    self.session.scalars(
                        select(GroupMember.group_id).where(GroupMember.user_id == user_id)
                    )
                )
                if memberships is not None:
                    if len(memberships) >= MAX_CACHED_USERS:
                        memberships.clear()
                    memberships[user_id] = known
            explicit = known
            implicit += self.role_groups(user)
        keyed = [grp.id for key in implicit if (grp := tree.by_key(key)) is not None]
        return sorted(set(keyed + explicit))

    def role_groups(self, user: Any) -> list[str]:
        """The flask-avg groups ``user`` is in through a host role (``AVG_ROLE_GROUPS``)."""
        from flask import current_app

        mapping = current_app.config.get("AVG_ROLE_GROUPS") or {}
        if not mapping:
            return []
        return [mapping[role] for role in host_roles(user) if role in mapping]

    def identity_needs(self, user: Any) -> frozenset[Any]:
        """The needs of ``user``: ``Need("avg_group", key)`` for each of their groups and
        the groups those inherit from (Joomla's authorised groups), and an
        ``ActionNeed`` per allowed action; cached per combination of groups.

        The user's member record (for the implicit ``member`` group) is looked up only
        when their other groups do not already inherit from ``member``: a board
        member's needs come from the process cache without a statement.
        """
        entry = self._entry()
        tree = entry.tree
        gids = self._group_ids(user, tree, entry.memberships)
        if user is not None and getattr(user, "is_authenticated", False):
            member = tree.by_key(MEMBER)
            if (
                member is not None
                and member.id not in entry.inherited(gids)
                and self.state.subject_for(user) is not None
            ):
                gids = sorted({*gids, member.id})
        cache_key = (frozenset(gids), len(self.state.actions))
        needs = entry.needs.get(cache_key)
        if needs is None:
            allowed = tree.allowed_actions(gids, self.state.actions)
            # namespaced: a host's own role checks (RoleNeed("board"), Flask-Security's
            # @roles_required) must never pass because of a flask-avg group
            groups = {group_need(tree.groups[gid].key) for gid in entry.inherited(gids)}
            needs = frozenset(groups | {ActionNeed(a) for a in allowed})
            if len(entry.needs) >= MAX_CACHED_USERS:
                entry.needs.clear()
            entry.needs[cache_key] = needs
        return needs

    def load_needs(self, identity: Identity) -> Identity:
        """Give ``identity`` the current user's group and action needs (once per request).

        Connected to Flask-Principal's ``identity_loaded``; also called for anonymous
        visitors, for whom Principal sends no signal. The needs are worked out when
        the identity's ``provides`` is first read (a permission checked), not before:
        a page that checks none costs nothing (see :class:`LazyNeeds`).
        """
        if g.get("_avg_identity") is identity:
            return identity
        user = current_user._get_current_object() if has_request_context() else None  # type: ignore[attr-defined]
        provides = identity.provides
        if isinstance(provides, LazyNeeds):
            provides = provides.ready()
        identity.provides = LazyNeeds(provides, lambda: self.identity_needs(user))
        g._avg_identity = identity
        return identity

    def current_identity(self) -> Identity:
        """``g.identity`` with flask-avg's needs, computed once per request."""
        cached = g.get("_avg_identity")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        identity = g.get("identity")
        if identity is None:
            user = current_user if has_request_context() else None
            authenticated = user is not None and user.is_authenticated
            identity = Identity(user_key(user) if authenticated and user is not None else None)
        return self.load_needs(identity)

    def can(self, action: str, user: Any = None) -> bool:
        if action not in self.state.actions:
            raise KeyError(f"unknown flask-avg action {action!r}; register it first")
        if user is None:
            # what Permission(ActionNeed(action)).allows(identity) answers, without
            # building a Permission and intersecting sets on every check
            return ActionNeed(action) in self.current_identity().provides
        return self.decide_for(user, action).allowed

    def decide_for(self, user: Any, action: str, tree: GroupTree | None = None) -> Decision:
        """The decision and the rule behind it, for any user (used by the CLI and the
        lock-out check, which passes a tree loaded from the uncommitted session)."""
        tree = tree or self.tree()
        return tree.decide(self.user_group_ids(user, tree), action)


def ensure_default_groups(session: Session) -> int:
    """Create the default groups and their rules where missing; returns how many were added."""
    existing = {grp.key: grp for grp in session.scalars(select(Group))}
    added = 0
    for spec in DEFAULT_GROUPS:
        if spec.key in existing:
            continue
        parent = existing.get(spec.parent) if spec.parent else None
        grp = Group(
            key=spec.key,
            title=spec.title,
            parent_id=parent.id if parent else None,
            super_user=spec.super_user,
        )
        session.add(grp)
        session.flush()
        session.add_all(Rule(group_id=grp.id, action=a, allow=True) for a in spec.allow)
        existing[spec.key] = grp
        added += 1
    if added:
        bump_version(session)
    return added


def acl_of(state: Any) -> Acl:
    """The ACL the ``acl`` plugin gave the app's state (the kernel knows it only as
    an ``AccessControl``)."""
    return state.acl  # type: ignore[no-any-return]
