"""Retention purge and erasure, with time frozen, on every database leg."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from example_app.models import Invoice, Member, Payment, SignUp, User, db, team_members
from flask_avg.core.models import AuditEntry
from flask_avg.core.retention_categories import SEVEN_YEARS
from flask_avg.extension import get_state
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.service import erase_subject, purge
from tests.support.factories import full_member, message


def _count(model) -> int:  # noqa: ANN001
    table = getattr(model, "__table__", model)
    return int(db.session.scalar(select(func.count()).select_from(table)) or 0)


def _set_days(**days: int) -> None:
    state = get_state()
    for key, value in days.items():
        state.settings.set(f"retention.{key}.days", value)
    db.session.commit()


def test_member_purged_exactly_one_day_after_anchor_plus_days(app):
    a, b = full_member(1), full_member(2)
    a.member.end_date = date(2022, 6, 30)
    db.session.commit()
    a_id, a_user, b_id = a.member.id, a.user.id, b.member.id
    _set_days(members=365, signups=3650)
    state = get_state()
    anchor_plus = date(2022, 6, 30) + timedelta(days=365)
    with time_machine.travel(anchor_plus, tick=False):
        result = purge(state)
    assert result.categories.get("members", {}).get("Member") is None or (
        result.categories["members"]["Member"].anonymised == 0
    )
    assert db.session.get(Member, a_id).first_name == "Voornaam1"
    with time_machine.travel(anchor_plus + timedelta(days=1), tick=False):
        result = purge(state)
    member = db.session.get(Member, a_id)
    assert member.first_name == "anon"
    assert member.email == f"anon-{member.id}@anon.invalid"
    assert member.end_date == date(2022, 6, 30)  # the anchor survives
    assert member.medical_notes is None and member.user_id is None
    assert result.categories["members"]["Member"].anonymised == 1
    # everything a owns without a legal hold is gone; b is untouched
    signups = select(func.count()).select_from(SignUp).where(SignUp.member_id == a_id)
    assert db.session.scalar(signups) == 0
    assert db.session.get(User, a_user) is None
    assert db.session.get(Member, b_id).first_name == "Voornaam2"
    # invoices and payments are under the seven-year floor: they stay
    kept = db.session.scalars(select(Invoice.id).where(Invoice.member_id == a_id))
    assert set(kept) == a.ids["Invoice"]
    # idempotent: the same date again changes nothing
    with time_machine.travel(anchor_plus + timedelta(days=1), tick=False):
        again = purge(state)
    assert all(
        c.deleted == 0 and c.anonymised == 0
        for models in again.categories.values()
        for c in models.values()
    )
    keys = db.session.scalars(select(LedgerEntry.key).where(LedgerEntry.model == "Member")).all()
    assert keys == [str(a_id)]


def test_invoice_floor_cannot_be_undercut_and_payments_go_first(app):
    a = full_member(1)
    db.session.commit()
    _set_days(invoices=30, signups=100000, members=100000)
    state = get_state()
    # the setting of 30 days is lifted to the floor
    last_day_kept = date(2020, 1, 15) + timedelta(days=SEVEN_YEARS)
    with time_machine.travel(last_day_kept, tick=False):
        purge(state)
    assert _count(Invoice) == 2
    # the invoice of 2020-01-15 expired, but its payments (2020-02-01, 03-01) not yet: it waits
    with time_machine.travel(last_day_kept + timedelta(days=1), tick=False):
        result = purge(state)
    assert _count(Invoice) == 2
    assert result.categories["invoices"]["Invoice"].blocked == 1
    with time_machine.travel(date(2020, 3, 1) + timedelta(days=SEVEN_YEARS + 1), tick=False):
        result = purge(state)
    assert _count(Payment) == 1  # the 2021 payment stays
    assert {i.number for i in db.session.scalars(select(Invoice))} == {"1-2"}
    assert db.session.get(Member, a.member.id).first_name == "Voornaam1"


def test_signups_category_and_null_anchor(app):
    a = full_member(1)
    a.member.end_date = None  # current member: never purged as a person
    db.session.commit()
    _set_days(signups=365)
    state = get_state()
    with time_machine.travel(date(2016, 2, 1), tick=False):
        purge(state)
    assert _count(SignUp) == 1
    with time_machine.travel(date(2016, 2, 2), tick=False):
        result = purge(state)
    assert _count(SignUp) == 0
    assert result.categories["signups"]["SignUp"].deleted == 1
    assert db.session.get(Member, a.member.id).first_name == "Voornaam1"


def test_many_anonymised_members_keep_unique_constraints(app):
    built = [full_member(n) for n in range(1, 8)]
    for b in built:
        b.member.end_date = date(2010, 1, 1)
    db.session.commit()
    _set_days(members=365)
    result = purge(get_state(), date(2026, 1, 1))
    assert result.categories["members"]["Member"].anonymised == 7
    emails = db.session.scalars(select(Member.email)).all()
    assert len(set(emails)) == 7
    assert all(e.endswith("@anon.invalid") for e in emails)


def test_dry_run_counts_and_changes_nothing(app):
    a = full_member(1)
    a.member.end_date = date(2010, 1, 1)
    db.session.commit()
    _set_days(members=365)
    result = purge(get_state(), date(2026, 1, 1), dry_run=True)
    assert result.categories["members"]["Member"].anonymised == 1
    assert db.session.get(Member, a.member.id).first_name == "Voornaam1"
    assert _count(LedgerEntry) == 0


def test_erase_subject_two_phases(app):
    a, b = full_member(1), full_member(2)
    message(a, b)
    db.session.commit()
    a_id, b_id = a.member.id, b.member.id
    state = get_state()
    with time_machine.travel(date(2026, 11, 22), tick=False):
        result = erase_subject(state, a_id, actor="7")
    removed = {o.model: o.count for o in result.removed}
    anonymised = {o.model: o.count for o in result.anonymised}
    retained = {o.model: o for o in result.retained}
    assert removed == {"SignUp": 1, "team_members": 1, "Message": 1, "User": 1}
    assert anonymised == {"Member": 1}
    assert retained["Invoice"].count == 2 and retained["Payment"].count == 3
    assert retained["Invoice"].until == date(2021, 1, 15) + timedelta(days=3650 + 1)
    assert "fiscale bewaarplicht" in retained["Invoice"].reason
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "subject.erased")
    ).one()
    assert entry.subject == str(a_id)
    assert "Voornaam1" not in (entry.detail_json or "")
    assert db.session.get(Member, b_id).first_name == "Voornaam2"
    assert _count(team_members) == 1
    with pytest.raises(LookupError):
        erase_subject(state, 999_999)


def test_erased_member_cannot_use_session(app, client):
    from werkzeug.security import generate_password_hash

    from tests.support.app import login

    a = full_member(1)
    a.user.password_hash = generate_password_hash("avg-demo")
    db.session.commit()
    a_id = a.member.id
    login(client, "m1@example.org")
    assert client.get("/avg/me").status_code == 200
    erase_subject(get_state(), a_id)
    # the test's app context outlives requests; in a server each request has a g of its own
    with app.app_context():
        page = client.get("/avg/me")
    assert page.status_code in (302, 401)


def test_audit_log_entries_dropped_with_count(app):
    from datetime import UTC, datetime

    from sqlalchemy import insert

    db.session.execute(
        insert(AuditEntry.__table__),
        [{"at": datetime(2020, 1, 1, tzinfo=UTC), "action": "old", "outcome": "ok"}],
    )
    db.session.commit()
    result = purge(get_state(), date(2026, 1, 1), actor="cli")
    assert result.audit_entries_dropped == 1
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.purged")).one()
    assert entry.detail["dropped"] == 1 and entry.actor == "cli"


def test_purge_as_of_a_future_date_keeps_the_audit_log_of_today(app):
    """The audit log's own retention counts from the real date, never from ``as_of``:
    a purge "as of" twenty years from now keeps the erasure done a minute ago."""
    a = full_member(1)
    db.session.commit()
    a_id = a.member.id
    erase_subject(get_state(), a_id, actor="board")
    today = date.today()
    result = purge(get_state(), date(today.year + 20, today.month, min(today.day, 28)))
    assert result.audit_entries_dropped == 0
    erased = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
    assert [(e.subject, e.actor) for e in erased] == [(str(a_id), "board")]
    assert (
        db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.purged")).all()
        == []
    )


def test_ledger_export_and_replay_after_restore(app, tmp_path):
    a, b = full_member(1), full_member(2)
    db.session.commit()
    a_id, a_user, b_id = a.member.id, a.user.id, b.member.id
    state = get_state()
    snapshot = _snapshot()
    erase_subject(state, a_id)
    path = tmp_path / "ledger.jsonl"
    from flask_avg.features.retention import ledger

    assert ledger.export(state, path) == 2  # the member and their login
    _restore(snapshot)
    db.session.expire_all()
    assert db.session.get(Member, a_id).first_name == "Voornaam1"
    totals = ledger.replay(state, path)
    assert totals["subjects"] == 1
    db.session.expire_all()
    assert db.session.get(Member, a_id).first_name == "anon"
    assert db.session.get(User, a_user) is None
    assert db.session.get(Member, b_id).first_name == "Voornaam2"


def _snapshot() -> dict[str, list[dict]]:
    """A logical copy of every table (a stand-in for a backup on every leg)."""
    out = {}
    for table in db.metadata.sorted_tables:
        out[table.name] = [dict(r) for r in db.session.execute(select(table)).mappings()]
    return out


def _restore(snapshot: dict[str, list[dict]]) -> None:
    from flask_avg.core.models import AvgBase

    db.session.rollback()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    for table in reversed(AvgBase.metadata.sorted_tables):
        if table.name == "avg_erasure_ledger":
            db.session.execute(table.delete())
    for table in db.metadata.sorted_tables:
        if snapshot[table.name]:
            db.session.execute(table.insert(), snapshot[table.name])
    db.session.commit()


def test_delete_policy_falls_back_to_anonymise_when_kept_rows_refer(app):
    held, free = full_member(1), full_member(2)
    db.session.commit()
    held_id, free_id = held.member.id, free.member.id
    # the second member's invoices are paid off long ago: nothing of theirs is held
    db.session.execute(
        Payment.__table__.delete().where(Payment.invoice_id.in_(free.ids["Invoice"]))
    )
    db.session.execute(Invoice.__table__.delete().where(Invoice.member_id == free_id))
    db.session.commit()
    state = get_state()
    state.settings.set("retention.erase.Member", "delete")
    db.session.commit()
    result = erase_subject(state, held_id)
    anonymised = {o.model: o for o in result.anonymised}
    assert anonymised["Member"].count == 1
    assert "refer" in anonymised["Member"].reason or "verwijzen" in anonymised["Member"].reason
    assert db.session.get(Member, held_id).first_name == "anon"
    result = erase_subject(state, free_id)
    assert {o.model: o.count for o in result.removed}["Member"] == 1
    db.session.expire_all()
    assert db.session.get(Member, free_id) is None
    actions = dict(
        db.session.execute(
            select(LedgerEntry.key, LedgerEntry.action).where(LedgerEntry.model == "Member")
        ).all()
    )
    assert actions == {str(held_id): "anonymised", str(free_id): "deleted"}


def test_anonymiser_overrides_and_type_defaults(app):
    import sqlalchemy as sa

    from flask_avg.core.declarations import ModelPolicy, personal
    from flask_avg.core.registry import DeclaredModel
    from flask_avg.features.retention import anonymise

    meta = sa.MetaData()
    table = sa.Table(
        "people",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("nick", sa.String(50), unique=True, nullable=False),
        sa.Column("code", sa.String(8), unique=True, nullable=False),
        sa.Column("note", sa.String(50), nullable=True),
        sa.Column("city", sa.String(50), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("joined", sa.Date, nullable=False),
        sa.Column("left_on", sa.Date, nullable=True),
        sa.Column("flag", sa.Boolean, nullable=False),
        sa.Column("motto", sa.String(50), nullable=True),
    )
    specs = {
        name: personal("identity")["avg"]
        for name in ("nick", "code", "note", "city", "score", "joined", "left_on", "flag")
    }
    specs["motto"] = personal("identity", anonymise="fixed", anonymise_value="-")["avg"]
    specs["city"] = personal("identity", anonymise="keep")["avg"]
    model = DeclaredModel(
        "Person", table, None, ModelPolicy(retention="members", anchor="left_on"), specs
    )
    vals = anonymise.sql(anonymise.values(model))
    assert "city" not in vals and "left_on" not in vals  # kept, and the anchor survives
    engine = sa.create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        for i in (1, 2):
            conn.execute(
                table.insert().values(
                    id=i,
                    nick=f"n{i}",
                    code=f"c{i}",
                    note="x",
                    city="Utrecht",
                    score=7,
                    joined=date(2000, 1, 1),
                    left_on=date(2010, 1, 1),
                    flag=True,
                    motto="carpe",
                )
            )
        conn.execute(table.update().values(vals))
        rows = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(
                    anonymise.not_anonymised(model, anonymise.values(model))
                )
            ).scalar()
            == 0
        )
    assert [r["nick"] for r in rows] == ["anon-1", "anon-2"]
    assert [r["code"] for r in rows] == ["1", "2"]
    first = rows[0]
    assert first["note"] is None and first["city"] == "Utrecht" and first["motto"] == "-"
    assert first["score"] == 0 and first["joined"] == date(1900, 1, 1) and first["flag"] is False
    assert first["left_on"] == date(2010, 1, 1)


def test_signals_and_audit_entry_of_a_purge(app):
    from flask_avg.core.signals import purge_completed, subject_erased

    seen: list[str] = []
    a = full_member(1)
    a.member.end_date = date(2010, 1, 1)
    db.session.commit()
    a_id = a.member.id
    with (
        purge_completed.connected_to(lambda _app, **kw: seen.append("purge"), app),
        subject_erased.connected_to(lambda _app, **kw: seen.append("erased"), app),
    ):
        purge(get_state(), date(2026, 1, 1), actor="cli")
        erase_subject(get_state(), full_member(2).member.id)
    assert seen == ["purge", "erased"]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention.purge")
    ).one()
    assert entry.actor == "cli"
    assert entry.detail["categories"]["members"]["anonymised"] >= 1
    assert "Voornaam" not in entry.detail_json and str(a_id) not in (entry.subject or "")


def test_batches_send_the_same_statements_however_many_there_are(app):
    """Batch bounds are parameters: a run of many batches compiles the same SQL as
    a run of one, so statement caches (and memory) do not grow with the run.
    (Compiled text: on MariaDB an IN list of keys is expanded per execution.)"""
    from sqlalchemy import event

    for n in range(1, 10):
        built = full_member(n)
        built.member.end_date = date(2010, 1, 1)
    db.session.commit()
    _set_days(members=365)

    def statements(size: int) -> list[str]:
        sent: list[str] = []

        def record(conn, cursor, statement, params, context, many):  # noqa: ANN001
            sent.append(context.compiled.string if context.compiled is not None else statement)

        app.config["AVG_PURGE_BATCH_SIZE"] = size
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            result = purge(get_state(), date(2026, 1, 1), dry_run=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert result.categories["members"]["Member"].anonymised == 9
        return sent

    statements(3)  # warms what is read once per request (the settings)
    many, one = statements(2), statements(100)
    assert len(many) > len(one)
    assert set(many) == set(one)


def test_erase_subject_waits_for_the_purge_lock_and_changes_nothing_without_it(app):
    import threading
    import time

    from flask_avg.features.retention.lock import Lock
    from flask_avg.features.retention.service import PurgeLocked

    a, b = full_member(1), full_member(2)
    db.session.commit()
    a_id, b_id = a.member.id, b.member.id
    state = get_state()
    with Lock(state), pytest.raises(PurgeLocked):  # a purge runs elsewhere
        erase_subject(state, a_id, wait=0)
    db.session.rollback()
    assert db.session.get(Member, a_id).first_name == "Voornaam1"
    assert _count(LedgerEntry) == 0
    assert not db.session.scalars(
        select(AuditEntry.id).where(AuditEntry.action == "subject.erased")
    ).all()
    # released while the erasure waits: it goes ahead
    lock = Lock(state).__enter__()
    release = threading.Timer(0.5, lock.release)
    release.start()
    started = time.monotonic()
    erase_subject(state, a_id, wait=10)
    release.join()
    assert time.monotonic() - started >= 0.4
    assert db.session.get(Member, a_id).first_name == "anon"
    erase_subject(state, b_id)  # and the lock is free again afterwards
    assert db.session.get(Member, b_id).first_name == "anon"
