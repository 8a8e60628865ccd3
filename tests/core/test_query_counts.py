"""Fixed statement counts of flask-avg's own pages and of a host's pages.

flask-avg's pages run a small, fixed number of statements, the same on every
request while nothing changed, and never read again after their audit commit what
they read before it. A host page costs an anonymous visitor nothing and a logged-in
user the one read of the version stamps, also when the page checks permissions.
"""

from __future__ import annotations

from collections import Counter

from example_app.models import db
from tests.core.test_host_page_cost import MY_DATA_STATEMENTS, statements
from tests.support.acl import client_for, make_users


def _page(client, url: str) -> list[str]:
    client.get(url)  # warm: the first request of a client loads caches
    with statements() as seen:
        assert client.get(url).status_code == 200
    return seen


def _reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def test_the_my_data_page_reads_nothing_again_after_its_commit(app):
    """The member, their account and their rows are read once: the page shows what its
    audit entry says was seen. (The consent plugin's re-ask check, before the page,
    and its panel on the page each read the purposes and the member's answers.)"""
    users = make_users()
    seen = _page(client_for(app, users["member"]), "/avg/me")
    repeated = {s: n for s, n in Counter(_reads(seen)).items() if n > 1 and "avg_consent" not in s}
    assert repeated == {}, repeated
    assert len(seen) <= MY_DATA_STATEMENTS, seen


def test_the_my_data_page_costs_the_same_every_time(app):
    users = make_users()
    client = client_for(app, users["member"])
    counts = [len(_page(client, "/avg/me")) for _ in range(3)]
    assert counts[0] == counts[1] == counts[2], counts


def test_a_host_page_checking_a_permission_of_a_plain_member(app):
    """A member without explicit groups: the stamps, and their member record once
    (the implicit member group), then the needs come from the process's cache."""
    from flask_avg.extension import get_state

    users = make_users()
    state = get_state()
    app.add_url_rule(
        "/_test/self", "test_self", lambda: "yes" if state.can("avg.self.view") else "no"
    )
    client = client_for(app, users["member"])
    client.get("/_test/self")
    with statements() as seen:
        assert client.get("/_test/self").get_data(as_text=True) == "yes"
    ours = [s for s in seen if "avg_" in s]
    assert len(ours) == 1 and "avg_stamp" in ours[0], ours
    # the host's user loader and the member lookup of the host's subject loader
    assert len(seen) == 3, seen


def test_a_host_page_checking_no_permission_works_out_no_needs(app, monkeypatch):
    from flask_avg.extension import get_state

    users = make_users()
    state = get_state()
    asked = []
    original = state.acl.identity_needs
    monkeypatch.setattr(state.acl, "identity_needs", lambda user: asked.append(1) or original(user))
    client = client_for(app, users["board"])
    assert client.get("/").status_code == 200
    assert asked == []
    db.session.rollback()
