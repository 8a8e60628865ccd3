"""Export speed and memory against hand-written baselines measured in the same run.

1. One member with about 100 related rows to Excel: flask-avg's export (collect,
   labels, cover sheet, formula checks, xlsxwriter) against the same SQL
   queries (``resolver.rows_for``) plus writing the same workbook (cover sheet,
   labelled headers, the cells) directly with xlsxwriter. Target: within 1.5x.
   The ratio against a bare cell dump is printed too.
2. The member list of 100,000 members to Excel: flask-avg's constant-memory
   writer against the same chunked ``SELECT`` written row by row with xlsxwriter
   in constant_memory mode; peak Python memory (tracemalloc) at a tenth of the
   size and at full size shows that memory stays bounded.

``python -m bench export`` (defaults finish in a few minutes); ``--full`` uses
300,000 members; ``--smoke`` 1,000 members and one run instead of the median of
40 (``make test`` runs it so the benchmark cannot rot). The member export and
its baseline must write the same sheets with the same number of rows, and both
list writers every member, or it raises.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

RELATED = 100
REPEAT = 40


def _app(path: Path) -> Any:
    """An example club on a fresh SQLite file; photos (none) in a folder beside it."""
    from example_app import create_app
    from example_app.models import db
    from flask_avg.core.models import AvgBase
    from flask_avg.features.acl.service import ensure_default_groups

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "CLUB_PHOTO_DIR": str(path.parent / "photos"),
        }
    )
    with app.app_context():
        db.create_all()
        AvgBase.metadata.create_all(db.engine)
        ensure_default_groups(db.session)
        db.session.commit()
    return app


def _members(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": start + i + 1,
            "member_number": f"B{start + i:07d}",
            "first_name": f"Voornaam{i}",
            "last_name": "van den Berg-Ölçer",
            "birth_date": date(1960 + i % 50, i % 12 + 1, i % 28 + 1),
            "email": f"lid{start + i}@example.org",
            "phone": f"06-{i:08d}",
            "street": f"Dorpsstraat {i % 200}",
            "postcode": "3511 AB",
            "city": "Utrecht",
            "iban": "NL91ABNA0417164300",
            "start_date": date(2010, 1, 1) + timedelta(days=i % 4000),
            "end_date": None if i % 3 else date(2024, 6, 30),
            "medical_notes": None,
        }
        for i in range(n)
    ]


def _seed_member(db: Any) -> int:
    from example_app.models import Invoice, Member, Message, Payment, SignUp

    db.session.execute(insert(Member), _members(2))
    per = RELATED // 4
    db.session.execute(
        insert(Invoice),
        [
            {
                "member_id": 1,
                "number": f"I{i}",
                "invoice_date": date(2000 + i % 25, 1, 15),
                "description": f"Contributie {2000 + i}",
                "amount": Decimal("120.50"),
            }
            for i in range(per)
        ],
    )
    db.session.execute(
        insert(Payment),
        [
            {"invoice_id": i % per + 1, "paid_on": date(2020, 2, 1), "amount": Decimal("60.25")}
            for i in range(per)
        ],
    )
    db.session.execute(
        insert(SignUp),
        [
            {"member_id": 1, "signed_up_on": date(2015, 2, 1), "kind": "proeftraining"}
            for _ in range(per)
        ],
    )
    db.session.execute(
        insert(Message),
        [
            {
                "sender_id": 1 + i % 2,
                "recipient_id": 2 - i % 2,
                "sent_at": datetime(2022, 5, 1, 12, 0) + timedelta(hours=i),
                "subject_line": "=Training dinsdag" if i % 5 == 0 else "Training",
            }
            for i in range(per)
        ],
    )
    db.session.commit()
    return 1


def _interleaved(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Median seconds per function, the runs interleaved so load changes hit all alike."""
    for fn in fns:
        fn()  # warm-up: imports, caches
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - started)
    return [max(statistics.median(t), 1e-9) for t in times]


def _baseline_member(state: Any, subject_id: int, *, cover: bool) -> bytes:
    """The same queries, and the workbook written directly with xlsxwriter.

    With ``cover`` it writes the same workbook flask-avg writes (a cover sheet
    with the facts and one row per data category, a frozen, labelled header
    row per model sheet); without, a bare dump of the cells. No presenters,
    no translations, no formula checks, no pandas; host texts given per language
    (``{"nl": ..., "en": ...}``) are picked as flask-avg picks them.
    """
    import xlsxwriter

    from flask_avg.core.i18n import localise

    rows = state.resolver.rows_for(state.db.session, subject_id)
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False})
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    bold = book.add_format({"bold": True})
    if cover:
        sheet = book.add_worksheet("About this export")
        sheet.write_string(0, 0, f"Personal data of member {subject_id}", bold)
        facts = [("Club", "Club"), ("Member", str(subject_id)), ("By", "bench")]
        for r, (label, value) in enumerate(facts, start=2):
            sheet.write_string(r, 0, label, bold)
            sheet.write_string(r, 1, value)
        sheet.write_datetime(5, 1, datetime.now(), date_fmt)
        categories: dict[str, list[set[str]]] = {}
        for model in rows:
            for spec in model.exported_columns(special=True).values():
                cat = categories.setdefault(spec.category, [set(), set(), set(), set()])
                cat[0].add(str(localise(spec.purpose) or ""))
                cat[1].add(spec.basis or "")
                cat[2].update(str(localise(r)) for r in spec.recipients)
                cat[3].add(str(localise(model.label)))
        for r, (key, parts) in enumerate(categories.items(), start=8):
            sheet.write_string(r, 0, key)
            for c, part in enumerate(parts, start=1):
                sheet.write_string(r, c, ", ".join(sorted(part)))
        sheet.set_column(0, 5, 30)
    for model, found in rows.items():
        columns = list(model.exported_columns(special=True))
        sheet = book.add_worksheet(str(localise(model.label))[:31])
        if cover:
            for c, name in enumerate(columns):
                label = localise(model.columns[name].label) or name
                sheet.write_string(0, c, str(label), bold)
            sheet.freeze_panes(1, 0)
            sheet.set_column(0, len(columns) - 1, 18)
        else:
            sheet.write_row(0, 0, columns)
        for r, row in enumerate(found, start=1):
            for c, name in enumerate(columns):
                value = model.value(row, name)
                if isinstance(value, date):
                    sheet.write_datetime(r, c, value, date_fmt)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()
    return buf.getvalue()


def _flask_avg_member(state: Any, subject: Any) -> bytes:
    from flask_avg.features.export.document import build
    from flask_avg.features.export.writers import write_xlsx

    buf = io.BytesIO()
    write_xlsx(build(state, subject, special=True, actor="bench"), buf)
    return buf.getvalue()


def _sheet_rows(workbook: bytes) -> dict[str, int]:
    """Rows per model sheet of a workbook (the cover sheet left out)."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(workbook), read_only=True)
    try:
        return {ws.title: ws.max_row or 0 for ws in book.worksheets[1:]}
    finally:
        book.close()


def bench_member(tmp: Path, repeat: int) -> None:
    from example_app.models import Member, db

    app = _app(tmp / "member.db")
    with app.app_context():
        subject_id = _seed_member(db)
        state = app.extensions["avg"]
        with app.test_request_context():
            subject = db.session.get(Member, subject_id)
            found = state.resolver.rows_for(db.session, subject_id)
            related = sum(len(r) for m, r in found.items() if not m.is_subject)

            def ours() -> bytes:
                db.session.expire_all()
                return _flask_avg_member(state, subject)

            def same() -> bytes:
                db.session.expire_all()
                return _baseline_member(state, subject_id, cover=True)

            def bare() -> bytes:
                db.session.expire_all()
                return _baseline_member(state, subject_id, cover=False)

            theirs, mine = _sheet_rows(same()), _sheet_rows(ours())
            if theirs != mine:
                raise AssertionError(f"member export: flask-avg {mine}, baseline {theirs}")
            t_ours, t_same, t_bare = _interleaved([ours, same, bare], repeat)
    ratio = t_ours / t_same
    print(
        f"member export, {related} related rows, median of {repeat}: "
        f"flask-avg {t_ours * 1000:.1f} ms, baseline (same workbook) {t_same * 1000:.1f} ms, "
        f"ratio {ratio:.2f}x (target <= 1.5x: {'OK' if ratio <= 1.5 else 'MISSED'})"
    )
    print(
        f"  against a bare cell dump without cover sheet or labels ({t_bare * 1000:.1f} ms): "
        f"{t_ours / t_bare:.2f}x"
    )


def _baseline_list(state: Any, out: Any) -> int:
    import xlsxwriter

    subject = state.registry.subject
    columns = list(subject.exported_columns(special=False))
    stmt = select(subject.primary_key[0], *(subject.table.c[c] for c in columns)).order_by(
        subject.primary_key[0]
    )
    with tempfile.TemporaryDirectory() as scratch:
        book = xlsxwriter.Workbook(
            out, {"constant_memory": True, "tmpdir": scratch, "strings_to_formulas": False}
        )
        sheet = book.add_worksheet("Members")
        date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_row(0, 0, ["ID", *columns])
        n = 0
        for row in state.db.session.execute(stmt.execution_options(yield_per=2000)):
            n += 1
            for c, value in enumerate(row):
                if isinstance(value, date):
                    sheet.write_datetime(n, c, value, date_fmt)
                elif value is not None:
                    sheet.write(n, c, value)
        book.close()
    return n


def _flask_avg_list(state: Any, out: Any) -> int:
    from flask_avg.core.presenters import member_list_query
    from flask_avg.features.export.lists import member_columns, member_headers, write_members_xlsx

    columns = member_columns(state, special=False)
    return write_members_xlsx(
        state, member_list_query(state, columns), member_headers(state, columns), out
    )


def _run_list(fn: Callable[[Any, Any], int], state: Any, traced: bool) -> tuple[float, int, int]:
    """(seconds, peak bytes or 0, rows); output goes to an anonymous temporary file."""
    state.db.session.expire_all()
    with tempfile.TemporaryFile() as out:
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        rows = fn(state, out)
        elapsed = time.perf_counter() - started
        peak = 0
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return elapsed, peak, rows


def bench_list(tmp: Path, n: int) -> None:
    """The member list at a tenth of ``n`` and at ``n`` members (traced), then timed at ``n``.

    Below a few chunks of :data:`~flask_avg.features.export.lists.CHUNK` rows the
    memory figures say nothing about boundedness, and no verdict is printed.
    """
    from example_app.models import Member, db
    from flask_avg.features.export.lists import CHUNK

    app = _app(tmp / "list.db")
    sizes = (n // 10, n)
    peaks: dict[tuple[str, int], int] = {}
    with app.app_context(), app.test_request_context():
        state = app.extensions["avg"]
        done = 0
        for size in sizes:
            for start in range(done, size, 10_000):
                db.session.execute(insert(Member), _members(min(10_000, size - start), start))
            db.session.commit()
            done = size
            for name, fn in (("flask-avg", _flask_avg_list), ("baseline", _baseline_list)):
                _t, peak, rows = _run_list(fn, state, traced=True)
                if rows != size:
                    raise AssertionError(f"member list ({name}): {rows} rows for {size} members")
                peaks[(name, size)] = peak
        t_ours, _p, _r = _run_list(_flask_avg_list, state, traced=False)
        t_base, _p, _r = _run_list(_baseline_list, state, traced=False)
    ratio = t_ours / t_base
    print(
        f"member list, {n:,} members to Excel: flask-avg {t_ours:.2f} s, baseline {t_base:.2f} s, "
        f"ratio {ratio:.2f}x"
    )

    def verdict(big: int, small: int) -> str:
        if sizes[0] < 5 * CHUNK:
            return "too few rows to judge"
        return "bounded" if big < 2 * small else "GROWING"

    for name in ("flask-avg", "baseline"):
        small, big = peaks[(name, sizes[0])], peaks[(name, sizes[1])]
        print(
            f"  peak Python memory ({name}): {small / 1e6:.1f} MB at {sizes[0]:,} members, "
            f"{big / 1e6:.1f} MB at {sizes[1]:,} ({big / small:.2f}x for 10x the rows: "
            f"{verdict(big, small)})"
        )


def main(args: list[str]) -> None:
    smoke = "--smoke" in args
    n = 1_000 if smoke else 300_000 if "--full" in args else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        bench_member(Path(tmp), 1 if smoke else REPEAT)
        bench_list(Path(tmp), n)
