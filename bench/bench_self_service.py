"""Self-service costs: the host's exclusion clauses and the pages, against baselines in the same run.

* ``not_restricted() + not_objected()`` on a member query vs the same query without them;
* the queue page with many open requests vs the flask-avg start page;
* a member's ``/avg/me`` page vs the start page.

``python -m bench self_service`` (2,000 members); ``--full`` for 20,000.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _best(fn: Callable[[], Any], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(args: list[str]) -> None:
    from flask_login import FlaskLoginClient
    from sqlalchemy import select

    from example_app import avg, create_app
    from example_app.demo import seed
    from example_app.models import Member, User, db
    from flask_avg.extension import get_state
    from flask_avg.features.requests import service as reqs

    members = 20_000 if "--full" in args else 2_000
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "WTF_CSRF_ENABLED": False,
                "SECRET_KEY": "bench",
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
            for member_id in ids[: min(500, len(ids))]:
                reqs.file_request(state, member_id, "restriction", user_id=None)

            plain = select(Member.id)
            limited = select(Member.id).where(avg.not_restricted(), avg.not_objected("newsletter"))
            base = _best(lambda: db.session.execute(plain).all())
            clause = _best(lambda: db.session.execute(limited).all())
            kept = len(db.session.execute(limited).all())
            print(f"   members: {members}, kept by the clauses: {kept}")
            print(f"   member query without clauses: {base * 1000:.2f} ms (baseline)")
            print(
                f"   with not_restricted + not_objected: {clause * 1000:.2f} ms  x{clause / base:.2f}"
            )

            board_user = db.session.scalars(
                select(User).where(User.email == "bestuur@example.org")
            ).one()
            member_user = db.session.scalars(
                select(User).where(User.email == "lid@example.org")
            ).one()
        with app.test_client(user=board_user) as board:
            start = _best(lambda: board.get("/avg/").status_code)
            queue = _best(lambda: board.get("/avg/requests").status_code)
        with app.test_client(user=member_user) as member:
            me = _best(lambda: member.get("/avg/me").status_code)
        print(f"   start page: {start * 1000:.1f} ms (baseline)")
        print(f"   request queue, 500 open: {queue * 1000:.1f} ms  x{queue / start:.1f}")
        print(f"   my data page: {me * 1000:.1f} ms  x{me / start:.1f}")
        with app.app_context():
            db.engine.dispose()
