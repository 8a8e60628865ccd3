"""Property-based fuzzing of every flask-avg form (hypothesis) and stored-XSS rendering.

Each example posts every form found on the pages with values hypothesis draws
(any Unicode, control characters, huge numbers, impossible dates, hostile
option values). No post may fail with a server error, and a post the page
refuses (it answers with the form again, or 4xx) must leave every table exactly
as it was: nothing half-saved (audit entries of reads aside).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from example_app.models import Member, db
from flask_avg.features.acl.models import Group
from flask_avg.features.breaches.models import Breach
from tests.security.test_input_forms import LAST, NOT_POSTED
from tests.support.acl import client_for, make_users
from tests.support.hostile import avg_rules, discover_forms, snapshot, url_args

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "9" * 40,
        str(2**63),
        "-1",
        "9999-12-31",
        "9999-12-31T23:59",
        "0001-01-01",
        "1e309",
        "NaN",
        "<script>alert(1)</script>",
        "=cmd|' /C calc'!A0",
        "a" * 20_000,
        "１２",  # noqa: RUF001
    ]
)
#: In place of a value: keep a select's valid option (so the rest of the form is tried).
VALID = object()
VALUES = st.one_of(HOSTILE_TEXT, st.text(max_size=60), st.integers().map(str), st.just(VALID))
#: Values drawn per example, handed to the fields in turn (the forms on the pages
#: change as the posts change the club, so the draws must not depend on them).
DRAWS = 120


def _refused(response: Any) -> bool:
    """The post was turned down: a 4xx, or the form again with an error on it."""
    if 400 <= response.status_code < 500:
        return True
    return (
        response.status_code == 200
        and response.mimetype == "text/html"
        and 'class="avg-error"' in response.get_data(as_text=True)
    )


@settings(
    max_examples=4,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(VALUES, min_size=DRAWS, max_size=DRAWS))
def test_fuzzed_posts_never_fail_and_refused_ones_store_nothing(app, values):
    db.session.rollback()
    if "_FUZZ" not in app.config:  # one club and one look at the pages per leg
        users = make_users()
        client = client_for(app, users["super_user"])
        forms = discover_forms(app, client, url_args(users))
        forms = [f for f in forms if f.endpoint not in NOT_POSTED]
        forms.sort(key=lambda f: f.endpoint in LAST)
        app.config["_FUZZ"] = (client, forms)
    client, forms = app.config["_FUZZ"]
    drawn = iter(values * 10)
    for form in forms:
        fill = {
            id(f): next(drawn)
            for f in form.fields
            if f["tag"] == "select" or f in form.text_fields()
        }

        def value(f: dict[str, Any], fill: dict[int, Any] = fill) -> Any:
            got = fill.get(id(f))
            return None if got is VALID else got

        before = snapshot()
        response = client.post(form.action, data=form.data(value))
        assert response.status_code < 500, (form.endpoint, response.status_code)
        if _refused(response):
            assert snapshot() == before, (form.endpoint, response.status_code)


#: Stored where each page shows it: a name, a group title, a breach, an address.
XSS = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def test_stored_script_payloads_are_escaped_on_every_page(app):
    users = make_users()
    args = url_args(users)
    for member in db.session.scalars(sa.select(Member)):
        member.first_name, member.street = XSS, XSS_ATTR
    db.session.add(Group(key="xss", title=XSS, parent_id=args["group_id"]))
    db.session.scalars(sa.select(Breach)).first().title = XSS
    db.session.commit()
    client = client_for(app, users["super_user"])
    from flask import url_for

    with app.test_request_context():
        pages = {
            url_for(r.endpoint, **{k: args[k] for k in r.arguments})
            for r in avg_rules(app)
            if "GET" in (r.methods or ()) and not r.endpoint.endswith("static")
        }
    shown = 0
    for page in sorted(pages):
        response = client.get(page)
        assert response.status_code < 500, page
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        assert XSS not in html and "<img src=x" not in html, page
        shown += "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert shown >= 3  # the payload is on the pages, escaped
