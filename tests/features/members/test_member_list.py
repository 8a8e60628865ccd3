"""The board's member list: names not keys, filters, search, sort, pages, counts, bad input."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from example_app.demo import seed
from example_app.models import Member, db
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from flask_avg.features.retention.service import erase_subject
from tests.support.app import login

TODAY = date.today()


def _member(number: str, first: str, last: str, *, ended_days_ago: int | None = None) -> Member:
    end = TODAY - timedelta(days=ended_days_ago) if ended_days_ago is not None else None
    m = Member(
        member_number=number,
        first_name=first,
        last_name=last,
        email=f"{number.lower()}@example.net",
        start_date=date(2010, 1, 1),
        end_date=end,
    )
    db.session.add(m)
    return m


@pytest.fixture
def club(app: Flask) -> dict[str, int]:
    """The three demo logins (current members) plus a known cast."""
    seed(n_members=3)
    cast = {
        "anna": _member("Z001", "Anna", "Zwart"),
        "bram": _member("Z002", "Bram", "Appel"),
        "cor": _member("Z003", "Cor", "Molen", ended_days_ago=30),
        "dirk": _member("Z004", "Dirk", "Berg", ended_days_ago=400),
        "eva": _member("Z005", "Eva", "Kaas", ended_days_ago=10),
    }
    db.session.commit()
    ids = {name: m.id for name, m in cast.items()}
    erase_subject(get_state(), ids["eva"])  # anonymised in place: an erased row
    db.session.commit()
    return ids


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-key="(\d+)" data-status="(\w+)">', page)


def _get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_names_and_numbers_link_to_the_member(club, client):
    login(client, "bestuur@example.org")
    page = _get(client, "/avg/members?q=Z00")
    assert "Anna Zwart" in page and "Z001" in page
    link = f'<a href="/avg/members/{club["anna"]}">Anna Zwart (Z001)</a>'
    assert link in page
    member = _get(client, f"/avg/members/{club['anna']}")
    assert "<h1>Anna Zwart (Z001)</h1>" in member
    assert "Lidnummer" in member and "Member.member_number" not in member


def test_filters_hide_erased_and_split_current_from_former(club, client):
    login(client, "bestuur@example.org")
    current = _get(client, "/avg/members?q=Z00")
    keys = {int(k) for k, _ in _rows(current)}
    assert keys == {club["anna"], club["bram"]}
    assert "anon" not in current.split("avg-members", 1)[1]
    former = _rows(_get(client, "/avg/members?q=Z00&status=former"))
    assert {int(k) for k, _ in former} == {club["cor"], club["dirk"]}
    erased = _get(client, "/avg/members?status=erased")
    assert _rows(erased) == [(str(club["eva"]), "erased")]
    assert "Eva" not in erased and "anon-" not in erased
    everyone = _rows(_get(client, "/avg/members?q=Z00&status=all&size=25"))
    # the anonymised row no longer holds "Z00": the search cannot find it
    assert len(everyone) == 4


def test_counts_match_the_filter_and_the_search(club, client):
    login(client, "bestuur@example.org")
    page = _get(client, "/avg/members?q=Z00")
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert counts == {"current": "2", "former": "2", "erased": "0", "all": "4"}
    page = _get(client, "/avg/members")
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert counts == {"current": "5", "former": "2", "erased": "1", "all": "8"}
    assert "(5)" in page  # the heading counts the rows the filter shows


def test_sort_by_name_number_and_status(club, client):
    login(client, "bestuur@example.org")
    by_name = _rows(_get(client, "/avg/members?q=Z00&status=all"))
    ids = [int(k) for k, _ in by_name]
    assert ids == [club["bram"], club["dirk"], club["cor"], club["anna"]]  # by surname
    desc = [int(k) for k, _ in _rows(_get(client, "/avg/members?q=Z00&status=all&dir=desc"))]
    assert desc == list(reversed(ids))
    by_number = _rows(_get(client, "/avg/members?q=Z00&status=all&sort=number"))
    assert [int(k) for k, _ in by_number] == [club[n] for n in ("anna", "bram", "cor", "dirk")]
    by_status = _rows(_get(client, "/avg/members?status=all&sort=status"))
    statuses = [s for _, s in by_status]
    assert statuses == sorted(statuses, key=["current", "former", "erased"].index)


def test_pages_are_bounded_and_keep_the_filter(app, client):
    seed(n_members=3)
    for i in range(30):
        _member(f"P{i:03d}", "Piet", f"Pagina{i:02d}")
    db.session.commit()
    login(client, "bestuur@example.org")
    first = _get(client, "/avg/members?q=Pagina&size=25")
    assert len(_rows(first)) == 25
    assert "Pagina 1 van 2" in first or "Page 1 of 2" in first
    nxt = re.search(r'rel="next" href="([^"]+)"', first)
    assert nxt is not None
    second = _get(client, nxt.group(1).replace("&amp;", "&"))
    assert len(_rows(second)) == 5 and "Pagina29" in second
    # a size nobody offered reads as the default (50), never "all rows"
    assert len(_rows(_get(client, "/avg/members?q=Pagina&size=100000"))) == 30


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=-1",
        "page=99999",
        "status=nonsense",
        "sort=password_hash",
        "sort=__class__&dir=sideways",
        "size=0",
        "size=1e9",
        "q=%25",
        "q=_",
        "q=" + "x" * 5000,
        "q=%00",
        "status[]=erased",
    ],
)
def test_bad_query_parameters_never_fail(club, client, query):
    login(client, "bestuur@example.org")
    assert client.get(f"/avg/members?{query}").status_code == 200


def test_a_percent_sign_is_searched_literally(club, client):
    login(client, "bestuur@example.org")
    assert _rows(_get(client, "/avg/members?q=%25&status=all")) == []


def test_the_list_is_audited_with_its_filter_and_members_cannot_see_it(club, client):
    login(client, "bestuur@example.org")
    _get(client, "/avg/members?status=former")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "members.list")).one()
    assert entry.detail["status"] == "former" and entry.detail["rows"] == 2
    client.get("/logout")
    login(client, "lid@example.org")
    assert client.get("/avg/members").status_code == 403


def test_english_page(club, client):
    login(client, "bestuur@example.org")
    client.get("/avg/lang/en")
    page = _get(client, "/avg/members?status=former&q=Z00")
    assert "Former" in page and "Member number" in page and "End of membership" in page
