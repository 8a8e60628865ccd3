"""Consent filter and breach counting against hand-written SQL, in the same run (SQLite).

``python -m bench accountability`` (20,000 members, median of 21 interleaved runs), ``--full``
(200,000) or ``--smoke`` (200 members, one run: ``make test`` runs it so the
benchmark cannot rot). Prints the time of flask-avg's query and of the
hand-written one, and their ratio; both must give the same count, or it raises.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa


def _timed(fn: Any, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return max(statistics.median(runs), 1e-9)


def _pair(ours: Any, hand: Any, repeat: int) -> tuple[float, float]:
    """Median seconds of each, runs interleaved so that load on a shared machine hits
    both alike (one warm-up run each)."""
    ours()
    hand()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        a.append(_timed(ours, 1))
        b.append(_timed(hand, 1))
    return max(statistics.median(a), 1e-9), max(statistics.median(b), 1e-9)


def _same(what: str, ours: object, hand: object) -> None:
    """Raise, not print: a smoke run must fail when the contenders disagree."""
    if ours != hand:
        raise AssertionError(f"{what}: flask-avg gives {ours!r}, hand-written SQL {hand!r}")


def main(args: list[str]) -> None:
    from example_app import create_app
    from example_app.models import Invoice, Member, db
    from flask_avg.core.models import AvgBase
    from flask_avg.extension import get_state
    from flask_avg.features.breaches import service as breaches
    from flask_avg.features.consent.models import ConsentState

    smoke = "--smoke" in args
    n = 200 if smoke else 200_000 if "--full" in args else 20_000
    repeat = 1 if smoke else 21
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "TESTING": True,
                "CLUB_PHOTO_DIR": str(Path(tmp) / "photos"),
            }
        )
        with app.app_context():
            db.create_all()
            AvgBase.metadata.create_all(db.engine)
            now = datetime.now(UTC)
            db.session.execute(
                sa.insert(Member),
                [
                    {
                        "id": i,
                        "member_number": f"B{i}",
                        "first_name": "A",
                        "last_name": "B",
                        "email": f"m{i}@example.net",
                        "start_date": date(2015, 1, 1),
                    }
                    for i in range(1, n + 1)
                ],
            )
            db.session.execute(
                sa.insert(Invoice),
                [
                    {
                        "member_id": i,
                        "number": f"{y}-{i}",
                        "invoice_date": date(y, 1, 15),
                        "description": "Contributie",
                        "amount": 100,
                    }
                    for i in range(1, n + 1)
                    for y in (2020, 2021)
                ],
            )
            db.session.execute(
                sa.insert(ConsentState),
                [
                    {
                        "subject": str(i),
                        "purpose": "newsletter",
                        "given": i % 3 != 0,
                        "at": now,
                        "version": "1",
                        "text_hash": "x",
                        "record_id": i,
                    }
                    for i in range(1, n + 1, 2)
                ],
            )
            db.session.commit()
            state = get_state()
            hand_sql = sa.text(
                "SELECT count(*) FROM members WHERE id IN (SELECT CAST(subject AS INTEGER) "
                "FROM avg_consent WHERE purpose = 'newsletter' AND given = 1 "
                "AND (expires_at IS NULL OR expires_at > :now))"
            )
            ours_stmt = (
                sa.select(sa.func.count())
                .select_from(Member)
                .where(state.ext.consent_filter("newsletter"))
            )
            a = db.session.scalar(ours_stmt)
            b = db.session.scalar(hand_sql, {"now": now.replace(tzinfo=None)})
            _same("consent_filter count", a, b)
            t_ours, t_hand = _pair(
                lambda: db.session.scalar(ours_stmt),
                lambda: db.session.scalar(hand_sql, {"now": now.replace(tzinfo=None)}),
                repeat,
            )
            print(
                f"   consent_filter, {n} members: {t_ours * 1000:.1f} ms, "
                f"hand-written SQL {t_hand * 1000:.1f} ms, ratio {t_ours / t_hand:.2f}x"
            )

            hand_count = sa.text(
                "SELECT count(DISTINCT member_id) FROM invoices "
                "WHERE invoice_date BETWEEN '2020-01-01' AND '2020-12-31'"
            )
            a = breaches.count_affected(state, ["Invoice"], date(2020, 1, 1), date(2020, 12, 31))
            _same("breach count_affected", a, db.session.scalar(hand_count))
            _same("breach count_affected against the members seeded", a, n)
            t_ours, t_hand = _pair(
                lambda: breaches.count_affected(
                    state, ["Invoice"], date(2020, 1, 1), date(2020, 12, 31)
                ),
                lambda: db.session.scalar(hand_count),
                repeat,
            )
            print(
                f"   breach count_affected, {2 * n} invoices: {t_ours * 1000:.1f} ms, "
                f"hand-written {t_hand * 1000:.1f} ms, ratio {t_ours / t_hand:.2f}x"
            )
            db.engine.dispose()
