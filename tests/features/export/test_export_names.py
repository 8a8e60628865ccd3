"""Download file names in the page's language; a CSV download that is a zip ends in .zip."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from example_app.demo import seed
from example_app.models import Member, db
from tests.support.app import csrf_token, login


def _name(response) -> str:
    assert response.status_code == 200
    found = re.search(r'filename="?([^";]+)"?', response.headers["Content-Disposition"])
    assert found
    return found.group(1)


def _download(client, url: str, **data) -> str:
    token = csrf_token(client, url)
    return _name(client.post(url, data={"csrf_token": token, **data}))


@pytest.fixture
def club(app):
    seed(n_members=3)
    return db.session.scalars(select(Member).where(Member.email == "lid@example.org")).one()


def test_member_file_names_follow_the_language(club, client):
    login(client, "lid@example.org")
    dutch = _download(client, "/avg/me/export", format="csv")
    assert "-mijn-gegevens-" in dutch and "my-data" not in dutch
    assert dutch.endswith(".zip")
    client.get("/avg/lang/en")
    english = _download(client, "/avg/me/export", format="json")
    assert "-my-data-" in english and english.endswith(".json")


def test_board_file_names_follow_the_language(club, client):
    login(client, "bestuur@example.org")
    one = _download(client, f"/avg/members/{club.id}/export", format="xlsx")
    assert f"-lid-{club.id}-" in one and one.endswith(".xlsx")
    listed = _download(client, "/avg/members/export", format="csv")
    assert "-leden-" in listed and listed.endswith(".csv")
    client.get("/avg/lang/en")
    one = _download(client, f"/avg/members/{club.id}/export", format="csv")
    assert f"-member-{club.id}-" in one and one.endswith(".zip")
    assert "-members-" in _download(client, "/avg/members/export", format="xlsx")


def test_the_zip_button_says_zip(club, client):
    login(client, "lid@example.org")
    page = client.get("/avg/me/export").get_data(as_text=True)
    assert "CSV (zip)" in page
