"""Open-redirect payloads against every ``next=`` flask-avg and the example site follow.

Each payload must end on a page of this site (or be refused), never a 500, never
a ``Location`` that a browser reads as another host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from flask_avg.core.redirects import safe_target
from tests.support.app import csrf_token, login
from tests.support.factories import full_member

HOSTILE = [
    "//evil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "/\\evil.example",
    "/%5Cevil.example",
    "/%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    " /avg/me",
    "/avg/me\r\nSet-Cookie: x=1",
    "/avg/me%0d%0aSet-Cookie:x=1",
    "/\x00/evil.example",
    "http:/evil.example",
    "/" + "a" * 5000,
]
SAFE = ["/avg/me", "/avg/consent?x=1", "/"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_are_refused(target):
    assert safe_target(target) is None


@pytest.mark.parametrize("target", SAFE)
def test_site_paths_pass(target):
    assert safe_target(target) == target


def _stays_on_site(response) -> None:
    assert response.status_code in (302, 303), response.status_code
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.netloc in ("", "club.test"), location
    assert not any(ord(ch) < 0x21 for ch in location), location


@pytest.mark.parametrize("target", HOSTILE + SAFE)
def test_language_switch_and_login_keep_visitors_on_the_site(app, client, target):
    _stays_on_site(client.get("/avg/lang/en", query_string={"next": target}))
    built = full_member(1)
    from werkzeug.security import generate_password_hash

    from example_app.models import db

    built.user.password_hash = generate_password_hash("avg-demo")
    db.session.commit()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "m1@example.org", "password": "avg-demo", "csrf_token": token},
    )
    _stays_on_site(response)


@pytest.mark.parametrize("target", HOSTILE)
def test_consent_review_keeps_members_on_the_site(app, client, target):
    from example_app.models import db

    built = full_member(2)
    from werkzeug.security import generate_password_hash

    built.user.password_hash = generate_password_hash("avg-demo")
    db.session.commit()
    login(client, "m2@example.org")
    page = client.get("/avg/consent/review", query_string={"next": target})
    assert page.status_code in (200, 302), page.status_code
    if page.status_code == 302:
        _stays_on_site(page)
