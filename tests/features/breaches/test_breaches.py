"""The breach register: the 72-hour clock with time frozen, counting the people affected,
recording through the form, the export, the dashboard panel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import time_machine
from flask import g
from sqlalchemy import select

from example_app.models import db
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.breaches import service as breaches
from flask_avg.features.breaches.models import Breach
from tests.support.app import csrf_token, login
from tests.support.factories import full_member

FOUND = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _breach(**kw) -> Breach:
    b = Breach(title="Laptop kwijt", discovered_at=FOUND, **kw)
    db.session.add(b)
    db.session.commit()
    return b


def test_clock_counts_down_72_hours_from_discovery(app):
    b = _breach(started_at=FOUND - timedelta(days=2))
    with time_machine.travel(FOUND + timedelta(hours=1), tick=False):
        c = breaches.clock(b)
        assert c.status == "open" and c.remaining == timedelta(hours=71)
        assert c.deadline == datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
        assert "71 u 0 min" in c.describe()  # Dutch by default
    with time_machine.travel(FOUND + timedelta(hours=71, minutes=59), tick=False):
        assert breaches.clock(b).status == "open"
    with time_machine.travel(FOUND + timedelta(hours=72), tick=False):
        assert breaches.clock(b).status == "overdue"
    with time_machine.travel(FOUND + timedelta(hours=80, minutes=15), tick=False):
        c = breaches.clock(b)
        assert c.status == "overdue" and c.remaining == -timedelta(hours=8, minutes=15)
        assert "8 u 15 min te laat" in c.describe()
        assert [x.id for x, _c in breaches.running(db.session)] == [b.id]


def test_notifying_or_recording_why_not_stops_the_clock(app):
    on_time = _breach(ap_notified_at=FOUND + timedelta(hours=50))
    late = _breach(ap_notified_at=FOUND + timedelta(hours=73))
    no_risk = _breach(ap_not_required_reason="Versleutelde laptop, geen risico")
    closed = _breach(closed_at=FOUND + timedelta(hours=2))
    with time_machine.travel(FOUND + timedelta(days=10), tick=False):
        assert breaches.clock(on_time).status == "notified"
        assert breaches.clock(late).status == "notified_late"
        assert breaches.clock(no_risk).status == "not_required"
        assert breaches.running(db.session) == []
    assert closed.id


def test_people_affected_are_counted_from_the_declarations(app):
    a, b, c = full_member(1), full_member(2), full_member(3)
    db.session.commit()
    state = get_state()
    # Invoices dated 2020 belong to all three members (full_member makes 2020 and 2021).
    assert breaches.count_affected(state, ["Invoice"], date(2020, 1, 1), date(2020, 12, 31)) == 3
    assert breaches.count_affected(state, ["Invoice"], date(2022, 1, 1), None) == 0
    # Two models: each member counted once.
    assert breaches.count_affected(state, ["Invoice", "Payment"]) == 3
    assert breaches.count_affected(state, []) == 0
    assert {a.member.id, b.member.id, c.member.id}


def test_people_affected_through_direct_links_count_each_member_once(app):
    """Messages name two members (sender, recipient): both count, once each, and a
    member linked from several rows and models still counts once."""
    from example_app.models import Member, Message

    a, b, c = full_member(1), full_member(2), full_member(3)
    lone = Member(
        member_number="T0099",
        first_name="A",
        last_name="B",
        email="x@example.org",
        start_date=date(2020, 1, 1),
    )
    db.session.add(lone)
    db.session.flush()
    sent = datetime(2021, 6, 1, 12, 0)
    db.session.add_all(
        [
            Message(sender_id=lone.id, recipient_id=a.member.id, sent_at=sent, subject_line="x"),
            Message(sender_id=lone.id, recipient_id=None, sent_at=sent, subject_line="y"),
        ]
    )
    db.session.commit()
    state = get_state()
    on_the_day = (date(2021, 6, 1), date(2021, 6, 1))
    assert breaches.count_affected(state, ["Message"], *on_the_day) == 2
    assert breaches.count_affected(state, ["Message", "Invoice"], *on_the_day) == 2
    # every member has invoices; the lone member's messages add one person
    assert breaches.count_affected(state, ["Invoice", "Message"]) == 4
    assert breaches.count_affected(state, ["Invoice", "Payment", "Message"]) == 4
    assert {b.member.id, c.member.id}


def test_a_link_to_no_member_is_no_person(app):
    """On SQLite with foreign keys off (a host may leave them off), a row can name a
    member that does not exist: it is not counted."""
    full_member(1)
    db.session.commit()
    state = get_state()
    assert breaches.count_affected(state, ["Invoice"], date(2020, 1, 1), date(2020, 12, 31)) == 1
    if db.engine.dialect.name != "sqlite":
        return  # the other databases always check foreign keys: no such row can exist
    conn = db.session.connection()
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        conn.exec_driver_sql(
            "INSERT INTO invoices (member_id, number, invoice_date, description, amount) "
            "VALUES (999999, 'X-1', '2020-05-01', 'Nobody', 1)"
        )
        assert breaches.count_affected(state, ["Invoice"], date(2020, 1, 1), None) == 1
    finally:
        db.session.rollback()
        db.session.connection().exec_driver_sql("PRAGMA foreign_keys=ON")


def test_board_records_a_breach_with_a_computed_count(app, client):
    from example_app.demo import seed

    seed(n_members=8)
    with time_machine.travel(FOUND + timedelta(hours=5), tick=False) as traveller:
        login(client, "bestuur@example.org")
        token = csrf_token(client, "/avg/breaches/new")
        resp = client.post(
            "/avg/breaches/new",
            data={
                "csrf_token": token,
                "title": "Ledenlijst gemaild naar verkeerde adres",
                "discovered_at": "2026-03-02T09:30",
                "nature": "Export van de ledenlijst naar een verkeerd e-mailadres",
                "categories": ["identity", "contact"],
                "affected_models": ["Member"],
                "affected_count": "5",
            },
        )
        assert resp.status_code == 302
        b = db.session.scalars(select(Breach)).one()
        assert b.discovered_at == FOUND  # BABEL_DEFAULT_TIMEZONE is UTC here
        assert b.affected_computed and b.affected_count == 8  # counted, not the 5 typed
        assert b.category_list == ["identity", "contact"]
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "breach.create")
        ).one()
        assert entry.detail == {"breach": b.id, "affected": 8}
        dash = client.get("/avg/dashboard").get_data(as_text=True)
        assert f'data-breach="{b.id}"' in dash and 'data-clock="open"' in dash
        assert "Nog 67 u 0 min" in dash
        traveller.shift(timedelta(hours=85))
        # The test app context outlives requests: drop the CSRF token Flask-WTF cached in g.
        g.pop("csrf_token", None)
        page = client.get("/avg/breaches").get_data(as_text=True)
        assert 'data-clock="overdue"' in page
        token = csrf_token(client, f"/avg/breaches/{b.id}")
        resp = client.post(
            f"/avg/breaches/{b.id}",
            data={
                "csrf_token": token,
                "title": b.title,
                "discovered_at": "2026-03-02T09:30",
                "affected_count": "12",
                "ap_notified_at": "2026-03-05T20:00",
                "ap_reference": "AP-123",
            },
        )
        assert resp.status_code == 302
        db.session.expire_all()
        b = db.session.get(Breach, b.id)
        assert not b.affected_computed and b.affected_count == 12
        assert breaches.clock(b).status == "notified_late"
        assert f'data-breach="{b.id}"' not in client.get("/avg/dashboard").get_data(as_text=True)


def test_csv_export_holds_every_field_and_no_formulas(app, client):
    from example_app.demo import seed

    seed(n_members=3)
    _breach(nature="=cmd|' /C calc'!A0", measures_taken="Wachtwoorden gewijzigd")
    login(client, "bestuur@example.org")
    resp = client.get("/avg/breaches.csv")
    assert resp.status_code == 200
    rows = list(
        csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    header, row = rows[0], rows[1]
    assert header[: len(breaches.EXPORT_FIELDS)] == list(breaches.EXPORT_FIELDS)
    values = dict(zip(header, row, strict=True))
    assert values["nature"].startswith("'=")
    assert values["measures_taken"] == "Wachtwoorden gewijzigd"
    assert values["discovered_at"] == "2026-03-02T09:30+00:00"


def test_members_cannot_see_breaches(app, client):
    from example_app.demo import seed

    seed(n_members=3)
    login(client, "lid@example.org")
    for url in ("/avg/breaches", "/avg/breaches/new", "/avg/breaches.csv", "/avg/dashboard"):
        assert client.get(url).status_code == 403, url
