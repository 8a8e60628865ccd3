"""What flask-avg costs on the host's own pages, counted in statements.

An anonymous visitor costs nothing; a logged-in user one cheap ledger lookup
(the erased-login guard), nothing more: permissions are worked out only when a
page asks for one.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from example_app.models import db
from flask_avg.extension import get_state
from tests.support.acl import client_for, make_users


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


def test_a_logged_in_user_costs_one_ledger_lookup(app):
    users = make_users()
    for level in ("member", "board", "super_user"):
        seen = _host_page(client_for(app, users[level]))
        ours = [s for s in seen if "avg_" in s]
        assert len(ours) == 1 and "avg_erasure_ledger" in ours[0], (level, ours)
        # the rest is the host's own user loader
        assert len(seen) - len(ours) == 1, seen


def test_still_one_after_an_erasure_elsewhere(app):
    users = make_users()
    from example_app.models import Member

    other = db.session.scalars(
        db.select(Member.id).where(Member.user_id == users["member"].id)
    ).one()
    get_state().erase_subject(other)
    db.session.commit()
    seen = _host_page(client_for(app, users["board"]))
    assert len([s for s in seen if "avg_" in s]) == 1
