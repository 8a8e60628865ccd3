"""Per-request cost of loading an identity: flask-avg's ACL against bare Flask-Principal.

A user in 10 groups (nested, with allow and deny rules) and 50 actions. Each
timed iteration is one request context: the user is loaded, logged in, and
Flask-Principal's ``identity_changed`` fires so ``identity_loaded`` hands out
the needs; then one permission is checked. The user is set on the request as
Flask-Login's user loader does for a session that is already logged in, not with
``login_user()``, whose login-time work (its signal, flask-avg's login
watermark) a logged-in user's request never runs.

* ``principal``: a bare Flask-Principal app whose ``identity_loaded`` handler
  adds the same needs from a dict in memory: the least any app can do.
* ``principal+query``: the same, reading the user's groups with one query, as
  a hand-written Flask-Principal integration would.
* ``flask-avg``: flask-avg's ACL: the version stamps read (one statement), the
  tree, the user's memberships and needs from the process cache; no member record
  lookup, since the user's groups inherit from ``member`` already.
* ``flask-avg, no cache``: the tree and rules reloaded on every request.

Ratios are against ``principal``, measured in the same run on the same SQLite file.

``python -m bench acl`` (2,000 requests per variant, median of 10 rounds),
``--full`` (20,000) or ``--smoke`` (20 requests, one round: ``make test`` runs
it so the benchmark cannot rot). Every request must be allowed the permission
checked, and flask-avg must hand out every need the baseline does, or it raises.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from flask_login import LoginManager, login_user
from flask_principal import ActionNeed, Identity, Permission, Principal, RoleNeed, identity_loaded
from sqlalchemy import select

N_GROUPS = 10
N_ACTIONS = 50


def build_avg_app(url: str, photos: str) -> tuple[Flask, Any]:
    from example_app import avg, create_app
    from example_app.models import Member, User, db
    from flask_avg.core.models import AvgBase
    from flask_avg.features.acl.models import Group, GroupMember, Rule
    from flask_avg.features.acl.service import BUILTIN_ACTIONS, ensure_default_groups

    extra = [f"bench.action{n:02d}" for n in range(N_ACTIONS - len(BUILTIN_ACTIONS))]
    for name in extra:
        avg.register_action(name, name)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "TESTING": True,
            "CLUB_PHOTO_DIR": photos,
        }
    )
    # the host's own Principal, as under Flask-Security: flask-avg adds its needs
    # to the identity it loads, like the baseline's identity_loaded handler
    Principal(app, use_sessions=False)
    with app.app_context():
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        ensure_default_groups(db.session)
        user = User(email="bench@example.org", password_hash="x", active=True)
        db.session.add(user)
        db.session.flush()
        db.session.add(
            Member(
                user_id=user.id,
                member_number="B0001",
                first_name="B",
                last_name="Ench",
                email=user.email,
                start_date=date(2020, 1, 1),
            )
        )
        board = db.session.scalars(select(Group).where(Group.key == "board")).one()
        parent = board.id
        # 10 groups for the user: board, administrator and 8 nested committees.
        mine = [
            board.id,
            db.session.scalars(select(Group.id).where(Group.key == "administrator")).one(),
        ]
        for n in range(N_GROUPS - 2):
            grp = Group(key=f"committee{n}", title=f"Committee {n}", parent_id=parent)
            db.session.add(grp)
            db.session.flush()
            mine.append(grp.id)
            parent = grp.id
            db.session.add(Rule(group_id=grp.id, action=extra[n], allow=True))
            db.session.add(Rule(group_id=grp.id, action=extra[-1 - n], allow=n % 3 != 0))
        db.session.add_all(GroupMember(user_id=str(user.id), group_id=gid) for gid in mine)
        db.session.commit()
        user_id = user.id
    return app, user_id


def build_bare_app(url: str, needs_by_group: dict[str, set[Any]], group_keys: list[str]) -> Flask:
    """Bare Flask-Principal on the same database: the baseline."""
    from flask_sqlalchemy import SQLAlchemy

    from example_app.models import User

    app = Flask("bare")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="bench", TESTING=True)
    bare_db = SQLAlchemy()
    bare_db.init_app(app)
    login = LoginManager(app)
    login.user_loader(lambda uid: bare_db.session.get(User, int(uid)))
    Principal(app, use_sessions=False)
    app.extensions["bench_db"] = bare_db
    app.extensions["bench_mode"] = "static"

    @identity_loaded.connect_via(app)
    def _needs(_sender: Any, identity: Identity) -> None:
        if app.extensions["bench_mode"] == "query":
            from flask_avg.features.acl.models import Group, GroupMember

            keys = bare_db.session.scalars(
                select(Group.key)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.user_id == str(identity.id))
            ).all()
        else:
            keys = group_keys
        # A hand-written integration maps roles to actions in memory.
        identity.provides.update(RoleNeed(key) for key in keys)
        identity.provides.update(needs_by_group["*"])

    return app


def one_round(app: Flask, user_id: int, n: int, before: Callable[[], None] | None = None) -> float:
    """Seconds per request context over ``n`` requests."""
    from flask_principal import identity_changed

    from example_app.models import User

    db = app.extensions.get("bench_db") or app.extensions["sqlalchemy"]
    permission = Permission(ActionNeed("avg.members.export"))
    started = time.perf_counter()
    for _ in range(n):
        if before is not None:
            before()
        with app.test_request_context("/"):
            # the user as Flask-Login's loader hands it to a request (a session that is
            # logged in already): login_user() would run the login's own work (signals,
            # flask-avg's login watermark) that a request of a logged-in user never runs
            user = db.session.get(User, user_id)
            app.login_manager._update_request_context_with_user(user)  # type: ignore[attr-defined]
            identity_changed.send(app, identity=Identity(user_id))
            if not permission.can():
                raise AssertionError("the bench user must be allowed avg.members.export")
            db.session.remove()
    return (time.perf_counter() - started) / n


def interleaved(
    variants: dict[str, Callable[[int], float]], n: int, rounds: int = 10
) -> dict[str, float]:
    """Median per-request seconds of each variant, rounds interleaved so drift hits all alike."""
    for run in variants.values():
        run(max(n // 20, 10))  # warm up
    seen: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            seen[name].append(run(max(n // rounds, 1)))
    return {name: max(statistics.median(values), 1e-9) for name, values in seen.items()}


def main(args: list[str]) -> None:
    smoke = "--smoke" in args
    n = 20 if smoke else 20_000 if "--full" in args else 2_000
    rounds = 1 if smoke else 10
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        avg_app, user_id = build_avg_app(url, str(Path(tmp) / "photos"))
        state = avg_app.extensions["avg"]
        with avg_app.test_request_context("/"):
            from example_app.models import User, db

            user = db.session.get(User, user_id)
            login_user(user)
            identity = state.acl.current_identity()
            needs = set(identity.provides)
            tree = state.acl.tree()
            keys = [tree.groups[gid].key for gid in state.acl.user_group_ids(user, tree)]
            db.session.remove()
        actions = {need for need in needs if need.method == "action"}
        print(
            f"   user in {len(keys)} groups (with implicit ones), {len(state.actions)} actions, "
            f"{len(actions)} allowed; {n} requests per variant"
        )
        needs_by_group = {"*": actions}

        static = build_bare_app(url, needs_by_group, keys)
        queried = build_bare_app(url, needs_by_group, keys)
        queried.extensions["bench_mode"] = "query"
        results = interleaved(
            {
                "principal": lambda k: one_round(static, user_id, k),
                "query": lambda k: one_round(queried, user_id, k),
                "cached": lambda k: one_round(avg_app, user_id, k),
                "uncached": lambda k: one_round(avg_app, user_id, k, before=state.acl.invalidate),
            },
            n,
            rounds,
        )
        base, query = results["principal"], results["query"]
        cached, uncached = results["cached"], results["uncached"]

        # Principal's identity_changed also calls identity_loaded on the avg app: make sure
        # the needs computed by flask-avg are the same set the baseline hands out.
        if not actions <= needs:
            raise AssertionError(f"flask-avg does not hand out {actions - needs}")
        rows = [
            ("principal (needs from memory)", base),
            ("principal + one group query", query),
            ("flask-avg (cached tree)", cached),
            ("flask-avg (no cache)", uncached),
        ]
        for label, secs in rows:
            print(f"   {label:32s} {secs * 1e6:9.1f} µs/request   {secs / base:5.2f}x")
        print(
            f"   ratio flask-avg / bare Flask-Principal: {cached / base:.2f}x "
            f"(against a hand-written query integration: {cached / query:.2f}x)"
        )
        with avg_app.app_context():
            db.engine.dispose()
        for bare in (static, queried):
            with bare.app_context():
                bare.extensions["bench_db"].engine.dispose()
