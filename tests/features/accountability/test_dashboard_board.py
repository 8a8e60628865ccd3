"""The board's home: big numbers, charts with text alternatives, a fixed number of queries."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from flask import Flask
from sqlalchemy import event, insert

from example_app.demo import seed
from example_app.models import Member, db
from flask_avg.core.types import utcnow
from flask_avg.features.accountability.board import months
from flask_avg.features.accountability.charts import Series, bar_chart
from flask_avg.features.breaches.models import Breach
from flask_avg.features.requests.models import DataRequest
from tests.support.app import login


def _stat(page: str, key: str) -> int:
    found = re.search(
        rf'data-stat="{key}">.*?<span class="avg-stat-value">(\d+)</span>', page, re.S
    )
    assert found, key
    return int(found.group(1))


def _requests(now: datetime) -> None:
    rows = [
        # open, in time
        {
            "subject": "1",
            "kind": "erasure",
            "status": "received",
            "open_key": "open",
            "received_at": now - timedelta(days=2),
            "deadline": now + timedelta(days=28),
        },
        # open, overdue
        {
            "subject": "2",
            "kind": "restriction",
            "status": "in_progress",
            "open_key": "open",
            "received_at": now - timedelta(days=40),
            "deadline": now - timedelta(days=10),
        },
        # done, two months ago
        {
            "subject": "3",
            "kind": "erasure",
            "status": "completed",
            "open_key": None,
            "received_at": now - timedelta(days=62),
            "deadline": now - timedelta(days=32),
        },
    ]
    db.session.execute(insert(DataRequest), [{**r, "updated_at": r["received_at"]} for r in rows])


def _ended(number: str, days_ago: int) -> None:
    db.session.add(
        Member(
            member_number=number,
            first_name="Oud",
            last_name=number,
            email=f"{number}@example.net",
            start_date=date(2000, 1, 1),
            end_date=date.today() - timedelta(days=days_ago),
        )
    )


def test_board_lands_on_the_dashboard_and_members_do_not(app: Flask, client):
    seed(n_members=3)
    login(client, "bestuur@example.org")
    response = client.get("/avg/")
    assert response.status_code == 302 and response.location.endswith("/avg/dashboard")
    client.get("/logout")
    login(client, "lid@example.org")
    assert client.get("/avg/").status_code == 200


def test_big_numbers(app: Flask, client):
    seed(n_members=3)
    now = utcnow()
    _requests(now)
    _ended("X1", 30)  # former, within the period
    _ended("X2", 5000)  # past 3650 days: due at the next purge
    db.session.add(
        Breach(title="Laptop kwijt", discovered_at=now - timedelta(hours=5), nature="verlies")
    )
    db.session.commit()
    login(client, "bestuur@example.org")
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert _stat(page, "requests-open") == 2
    assert _stat(page, "requests-overdue") == 1
    assert _stat(page, "members-due") == 1
    assert _stat(page, "members-current") == 3
    assert _stat(page, "breaches-running") == 1


def test_charts_are_inline_svg_with_text_alternatives(app: Flask, client):
    seed(n_members=3)
    _requests(utcnow())
    db.session.commit()
    login(client, "bestuur@example.org")
    page = client.get("/avg/dashboard").get_data(as_text=True)
    for chart in ("avg-chart-requests", "avg-chart-members", "avg-chart-consent"):
        part = page[page.index(f'id="{chart}"') :]
        part = part[: part.index("</figure>")]
        assert '<svg class="avg-chart"' in part and 'role="img"' in part
        assert "aria-label=" in part and "<title>" in part
        assert "<details>" in part and "<table" in part
    # the charts need no script: the only one is the layout's shared avg.js, with no inline code
    main = page.split("<main", 1)[-1].split("</main>")[0]
    assert re.findall(r"<script[^>]*>.*?</script>", main, re.S) == [
        '<script src="/avg/static/avg.js" defer></script>'
    ]
    requests_part = page[page.index('id="avg-chart-requests"') :]
    requests_part = requests_part[: requests_part.index("</figure>")]
    assert requests_part.count('<tr><th scope="row">') == 12
    # three requests in the last 12 months, two of them this month or last
    assert "3 verzoeken in de afgelopen 12 maanden" in requests_part


def test_chart_texts_are_escaped():
    svg = bar_chart("c", "<b>x</b>", ["<i>"], [Series("<s>", [3])])
    assert "<b>" not in svg and "<i>" not in svg and "<s>" not in svg
    assert "&lt;b&gt;" in svg


def test_months_cover_a_year():
    assert months(date(2026, 2, 15)) == [
        (2025, 3),
        (2025, 4),
        (2025, 5),
        (2025, 6),
        (2025, 7),
        (2025, 8),
        (2025, 9),
        (2025, 10),
        (2025, 11),
        (2025, 12),
        (2026, 1),
        (2026, 2),
    ]


def _count_queries(app: Flask, client) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/avg/dashboard").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_the_dashboard_costs_the_same_queries_for_more_members(app: Flask, client):
    seed(n_members=5)
    login(client, "bestuur@example.org")
    client.get("/avg/dashboard")  # warm caches (settings, ACL) once
    few = _count_queries(app, client)
    for i in range(60):
        _ended(f"Y{i}", 10 + i * 100)
    now = datetime.now(UTC)
    db.session.execute(
        insert(DataRequest),
        [
            {
                "subject": str(1000 + i),
                "kind": "erasure",
                "status": "completed",
                "open_key": None,
                "received_at": now - timedelta(days=i * 5),
                "deadline": now,
                "updated_at": now,
            }
            for i in range(60)
        ],
    )
    db.session.commit()
    many = _count_queries(app, client)
    assert many == few


def test_english_dashboard(app: Flask, client):
    seed(n_members=3)
    login(client, "bestuur@example.org")
    client.get("/avg/lang/en")
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert "Open requests" in page and "Requests per month" in page
    assert "Members by retention state" in page and "Consent over time" in page


def test_month_labels_are_thinned_so_they_never_overlap():
    months = [f"mnd {2025 + (m > 0)}-{m:02d}" for m in range(12)]
    svg = str(bar_chart("c", "t", months, [Series("n", [1] * 12)]))
    shown = [m for m in months if f">{m}</tspan>" in svg]
    # every other month at most, and always the newest one
    assert months[-1] in shown
    assert len(shown) <= 6
    # every bar is still there, with its month in the bar's own tooltip
    assert svg.count("<rect ") >= 12 + 1
    assert all(f"<title>{m}, n: 1</title>" in svg for m in months)


def test_long_state_labels_wrap_instead_of_running_into_each_other():
    labels = [
        "Huidig",
        "Voormalig, binnen de bewaartermijn",
        "Bij de volgende opschoning",
        "Gewist",
    ]
    svg = str(bar_chart("c", "t", labels, [Series("n", [3, 2, 1, 0])]))
    assert ">Voormalig, binnen</tspan>" in svg
    assert ">de bewaartermijn</tspan>" in svg


def test_the_axis_shows_whole_numbers_once():
    svg = str(bar_chart("c", "t", ["a"], [Series("n", [1])]))
    ticks = [t for t in ("0", "1") if f'fill="currentColor">{t}</text>' in svg]
    assert ticks == ["0", "1"]
    assert svg.count('fill="currentColor">0</text>') == 1
