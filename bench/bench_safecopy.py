"""The anonymised copy against a plain copy of the same database, in the same run (SQLite).

``python -m bench safecopy`` builds a club of 100,000 members (``--full``: 500,000;
``--smoke``: 200), each with a login and an invoice, and copies it twice into
fresh SQLite files: once with ``anonymised_copy`` and once with a hand-written
plain copy (every table read and written in the same batches, nothing
anonymised: the floor). Prints both times and their ratio. It raises when the
copies differ in row counts or when a member's e-mail address reaches the
anonymised copy.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa


def _build(n: int) -> None:
    from example_app.models import Invoice, Member, User, db

    chunk = 10_000
    for start in range(1, n + 1, chunk):
        ids = range(start, min(start + chunk, n + 1))
        db.session.execute(
            sa.insert(User),
            [
                {"id": i, "email": f"u{i}@example.org", "password_hash": "x", "active": True}
                for i in ids
            ],
        )
        db.session.execute(
            sa.insert(Member),
            [
                {
                    "id": i,
                    "user_id": i,
                    "member_number": f"M{i:07d}",
                    "first_name": f"Voornaam{i}",
                    "last_name": f"Achternaam{i}",
                    "email": f"m{i}@example.org",
                    "phone": "06-12345678",
                    "iban": "NL91ABNA0417164300",
                    "start_date": date(2015, 1, 1),
                }
                for i in ids
            ],
        )
        db.session.execute(
            sa.insert(Invoice),
            [
                {
                    "id": i,
                    "member_id": i,
                    "number": f"F{i:07d}",
                    "invoice_date": date(2024, 1, 15),
                    "description": f"Contributie Voornaam{i}",
                    "amount": Decimal("120.00"),
                }
                for i in ids
            ],
        )
    db.session.commit()


def _plain_copy(source: sa.Engine, url: str, batch: int) -> dict[str, int]:
    meta = sa.MetaData()
    meta.reflect(bind=source)
    target = sa.create_engine(url)
    meta.create_all(target)
    rows = {}
    for table in meta.sorted_tables:
        n = 0
        with source.connect() as sc, target.begin() as tc:
            result = sc.execution_options(stream_results=True, yield_per=batch).execute(
                sa.select(table)
            )
            for part in result.mappings().partitions():
                tc.execute(sa.insert(table), [dict(r) for r in part])
                n += len(part)
        rows[table.name] = n
    target.dispose()
    return rows


def main(args: list[str]) -> None:
    from example_app import create_app
    from example_app.models import db
    from flask_avg.core.models import AvgBase
    from flask_avg.features.safecopy.service import anonymised_copy

    smoke = "--smoke" in args
    n = 200 if smoke else 500_000 if "--full" in args else 100_000
    batch = 1000
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'club.db'}",
                "TESTING": True,
                "CLUB_PHOTO_DIR": str(tmp / "photos"),
            }
        )
        with app.app_context(), app.test_request_context():
            db.create_all()
            AvgBase.metadata.create_all(db.engine)
            _build(n)
            state = app.extensions["avg"]

            started = time.perf_counter()
            plain = _plain_copy(db.engine, f"sqlite:///{tmp / 'plain.db'}", batch)
            base = max(time.perf_counter() - started, 1e-9)

            started = time.perf_counter()
            result = anonymised_copy(state, f"sqlite:///{tmp / 'anon.db'}", batch_size=batch)
            ours = max(time.perf_counter() - started, 1e-9)

            if result.rows != plain:
                raise AssertionError(f"row counts differ: {result.rows} != {plain}")
            copy = sa.create_engine(f"sqlite:///{tmp / 'anon.db'}")
            with copy.connect() as conn:
                leaked = conn.scalar(
                    sa.text("SELECT COUNT(*) FROM members WHERE email LIKE '%@example.org'")
                )
            copy.dispose()
            if leaked:
                raise AssertionError(f"{leaked} e-mail address(es) reached the anonymised copy")
            db.engine.dispose()
    rows = sum(plain.values())
    print(f"   {n:,} members, {rows:,} rows")
    print(f"   plain copy {base:.2f} s, anonymised copy {ours:.2f} s")
    print(f"   anonymised / plain copy: {ours / base:.2f}x the time")
