"""Self-service costs: the host's exclusion clauses and the pages, against baselines in the same run.

* ``not_restricted() + not_objected()`` on a member query vs the same query without them;
* the queue page with many open requests vs the flask-avg start page;
* a member's ``/avg/me`` page vs the start page.

``python -m bench self_service`` (2,000 members, median of 7); ``--full`` for
20,000; ``--smoke`` for 100 members and one run (``make test`` runs it so the
benchmark cannot rot). The clauses must keep the members hand-written SQL keeps,
and every page must answer 200, or it raises.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: the members the two clauses keep, by hand
KEPT_BY_HAND = sa.text(
    "SELECT count(*) FROM members WHERE CAST(id AS VARCHAR(64)) NOT IN "
    "(SELECT subject FROM avg_processing_limit WHERE lifted_at IS NULL "
    "AND (kind = 'restriction' OR (kind = 'objection' AND purpose = 'newsletter')))"
)


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return max(statistics.median(times), 1e-9)


def _page(client: Any, url: str) -> Callable[[], None]:
    """A GET of ``url`` that raises unless the page answers 200."""

    def get() -> None:
        status = client.get(url).status_code
        if status != 200:
            raise AssertionError(f"GET {url} answered {status}")

    return get


def main(args: list[str]) -> None:
    from flask_login import FlaskLoginClient
    from sqlalchemy import select

    from example_app import avg, create_app
    from example_app.demo import seed
    from example_app.models import Member, User, db
    from flask_avg.extension import get_state
    from flask_avg.features.requests import service as reqs

    smoke = "--smoke" in args
    members = 100 if smoke else 20_000 if "--full" in args else 2_000
    repeat = 1 if smoke else 7
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "WTF_CSRF_ENABLED": False,
                "SECRET_KEY": "bench",
                # the demo data's photos go to the temporary folder, not the instance folder
                "CLUB_PHOTO_DIR": str(Path(tmp) / "photos"),
            }
        )
        app.test_client_class = FlaskLoginClient
        with app.app_context():
            seed(n_members=members)
            state = get_state()
            ids = list(db.session.scalars(select(Member.id).order_by(Member.id)))
            for n, member_id in enumerate(ids):
                if n % 20 == 1:
                    db.session.add(reqs.ProcessingLimit(subject=str(member_id), kind="restriction"))
                if n % 20 == 2:
                    db.session.add(
                        reqs.ProcessingLimit(
                            subject=str(member_id), kind="objection", purpose="newsletter"
                        )
                    )
            db.session.commit()
            queued = ids[: min(500, len(ids))]
            for member_id in queued:
                reqs.file_request(state, member_id, "restriction", user_id=None)

            plain = select(Member.id)
            limited = select(Member.id).where(avg.not_restricted(), avg.not_objected("newsletter"))
            base = _best(lambda: db.session.execute(plain).all(), repeat)
            clause = _best(lambda: db.session.execute(limited).all(), repeat)
            kept = len(db.session.execute(limited).all())
            by_hand = db.session.scalar(KEPT_BY_HAND)
            if kept != by_hand:
                raise AssertionError(f"the clauses keep {kept} members, hand-written SQL {by_hand}")
            print(f"   members: {members}, kept by the clauses: {kept}")
            print(f"   member query without clauses: {base * 1000:.2f} ms (baseline)")
            print(
                f"   with not_restricted + not_objected: {clause * 1000:.2f} ms  {clause / base:.2f}x"
            )

            board_user = db.session.scalars(
                select(User).where(User.email == "bestuur@example.org")
            ).one()
            member_user = db.session.scalars(
                select(User).where(User.email == "lid@example.org")
            ).one()
        with app.test_client(user=board_user) as board:
            # the board's start page is its dashboard (``/avg/`` redirects there)
            start = _best(_page(board, "/avg/dashboard"), repeat)
            queue = _best(_page(board, "/avg/requests"), repeat)
        with app.test_client(user=member_user) as member:
            me = _best(_page(member, "/avg/me"), repeat)
        print(f"   board's start page (dashboard): {start * 1000:.1f} ms (baseline)")
        print(f"   request queue, {len(queued)} open: {queue * 1000:.1f} ms  {queue / start:.1f}x")
        print(f"   my data page: {me * 1000:.1f} ms  {me / start:.1f}x")
        with app.app_context():
            db.engine.dispose()
