"""What flask-avg costs on the host's own pages, counted in statements.

An anonymous visitor costs nothing; a logged-in user one read of the version
stamps (``avg_stamp``, two rows), nothing more while nobody was erased and the
groups did not change: the erased-login guard and the group tree answer from the
process's cache (:mod:`flask_avg.core.stamps`).
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from example_app.models import db
from flask_avg.extension import get_state
from tests.support.acl import client_for, make_users

#: flask-avg's own 'my data' page, the host's user loader included: 23 with the audit
#: chain's turn (2), the guardian switcher (1) and "what your guardian did" (1); the
#: member and their account are not read again after the page's audit commit
MY_DATA_STATEMENTS = 23


@contextmanager
def statements():
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _host_page(client) -> list[str]:
    client.get("/")  # warm: the first request of a client loads caches
    with statements() as seen:
        assert client.get("/").status_code == 200
    return seen


def test_an_anonymous_visitor_costs_no_query(app):
    make_users()
    assert _host_page(client_for(app, None)) == []


def _ours(seen: list[str]) -> list[str]:
    return [s for s in seen if "avg_" in s]


def test_a_logged_in_user_costs_one_stamp_read(app):
    users = make_users()
    for level in ("member", "board", "super_user"):
        seen = _host_page(client_for(app, users[level]))
        ours = _ours(seen)
        assert len(ours) == 1 and "avg_stamp" in ours[0], (level, ours)
        # the rest is the host's own user loader
        assert len(seen) - len(ours) == 1, seen


def test_a_page_asking_for_a_permission_costs_nothing_more(app):
    users = make_users()
    state = get_state()
    app.add_url_rule(
        "/_test/asks", "test_asks", lambda: "yes" if state.can("avg.audit.view") else "no"
    )
    client = client_for(app, users["board"])
    client.get("/_test/asks")
    with statements() as seen:
        assert client.get("/_test/asks").get_data(as_text=True) == "yes"
    assert len(_ours(seen)) == 1, seen


def test_after_an_erasure_elsewhere_one_ledger_lookup_then_none(app):
    users = make_users()
    from example_app.models import Member

    client = client_for(app, users["board"])
    _host_page(client)
    other = db.session.scalars(
        db.select(Member.id).where(Member.user_id == users["member"].id)
    ).one()
    get_state().erase_subject(other)
    db.session.commit()
    with statements() as seen:
        assert client.get("/").status_code == 200
    ours = _ours(seen)
    assert len(ours) == 2 and "avg_erasure_ledger" in ours[1], ours  # the stamp changed
    assert _ours(_host_page(client)) == [ours[0]]  # and then it holds again


def test_an_erased_member_is_logged_out_on_the_next_host_page(app):
    users = make_users()
    from example_app.models import Member

    client = client_for(app, users["member"])
    _host_page(client)
    assert client.get("/avg/me").status_code == 200
    mine = db.session.scalars(
        db.select(Member.id).where(Member.user_id == users["member"].id)
    ).one()
    get_state().erase_subject(mine)
    db.session.commit()
    client.get("/")
    assert client.get("/avg/me").status_code in (302, 401)


def test_the_my_data_page_runs_a_fixed_number_of_statements(app):
    users = make_users()
    client = client_for(app, users["member"])
    client.get("/avg/me")
    counts = []
    for _ in range(2):
        with statements() as seen:
            assert client.get("/avg/me").status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1] <= MY_DATA_STATEMENTS, counts
