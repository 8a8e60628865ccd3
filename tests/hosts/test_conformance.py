"""One conformance scenario over every host application and database leg (issue 12).

The hosts (:mod:`tests.hosts.adapters`) differ in what flask-avg must cope with:
plain Flask-Login with a member beside the login (the example club),
Flask-Security-Too with users as the subject, roles and a one-to-one profile
(Winkel), and an app factory with a request-reading locale selector, a
self-referencing follower table and a search index fed by ORM events (Kring).
What a host's own SQL says belongs to a person is the truth the export and the
erasure are held to.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from flask_avg.features.acl.admin import add_member, find_group
from flask_avg.features.acl.service import acl_of
from flask_avg.features.export.safety import json_value
from flask_avg.features.retention.preview import preview
from tests.hosts.adapters import HOSTS
from tests.hosts.base import Host, Person, all_rows, integration_lines, others_rows, whoami
from tests.support import ROOT
from tests.support.app import LEGS, csrf_token
from tests.support.export import read_json_rows

SOCIAL = [("social", leg) for leg in LEGS]
# Flask-Security's own list type, not ours
pytestmark = pytest.mark.filterwarnings("ignore:TypeDecorator AsaList:sqlalchemy.exc.SAWarning")
DOCS = ROOT / "docs" / "hosts"
IMPLICIT_GROUPS = {"public", "registered", "member"}


def state(app: Flask) -> Any:
    return app.extensions["avg"]


def join(app: Flask, host: Host, person: Person, group: str) -> None:
    """Put ``person`` in one of flask-avg's groups, as the ACL screen would."""
    avg = state(app)
    add_member(avg, find_group(host.db.session, group), host.user(person.user_id))
    host.db.session.commit()


def group_keys(app: Flask, host: Host, user_id: int) -> set[str]:
    acl = acl_of(state(app))
    tree = acl.tree()
    user = host.user(user_id)
    return {tree.groups[gid].key for gid in acl.user_group_ids(user, tree)}


def erase(app: Flask, host: Host, person: Person) -> Any:
    """Erase ``person`` as the board's erase page does, inside a request."""
    with app.test_request_context():
        result = state(app).erase_subject(person.subject_id, actor="test")
    host.db.session.commit()
    host.db.session.expire_all()
    return result


def remember_cookie(app: Flask, client: FlaskClient) -> Any:
    name = app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    cookie = client.get_cookie(name)
    assert cookie is not None, "no remember-me cookie after logging in with remember"
    return cookie


def with_cookie(app: Flask, cookie: Any) -> FlaskClient:
    """A new browser that carries only ``cookie``."""
    fresh = app.test_client()
    fresh.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return fresh


# -- the integration ---------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTS)
def test_integration_takes_the_documented_number_of_lines(name: str) -> None:
    host = HOSTS[name]()
    lines = integration_lines(host)
    assert lines == host.documented_lines
    page = (DOCS / f"{name}.rst").read_text(encoding="utf-8")
    assert f"**{lines} lines**" in page


# -- export --------------------------------------------------------------------------


def test_export_equals_what_direct_sql_finds(app: Flask, host: Host, client: FlaskClient) -> None:
    me, other = host.person(1), host.person(2)
    host.link(me, other)
    host.link(other, me)
    host.login(client, me)
    token = csrf_token(client, "/avg/me/export")
    response = client.post("/avg/me/export", data={"format": "json", "csrf_token": token})
    assert response.status_code == 200
    exported = read_json_rows(json.loads(response.data))

    registry = state(app).registry
    models = {model.table.name: model for model in registry}
    expected: dict[str, dict[tuple, dict[str, Any]]] = {}
    for table, rows in host.owned(me).items():
        model = models.get(table)
        if model is None or not rows:  # not declared (a search index): not flask-avg's to export
            continue
        columns = list(model.exported_columns(special=True))
        keys = [c.name for c in model.primary_key]
        expected[model.name] = {
            tuple(json_value(row._mapping[k]) for k in keys): {
                c: json_value(row._mapping[c]) for c in columns
            }
            for row in rows
        }
    host_models = {m.name for m in registry}
    assert {name: rows for name, rows in exported.items() if name in host_models} == expected


# -- erasure -------------------------------------------------------------------------


def test_erasure_leaves_only_declared_holds_and_touches_nobody_else(app: Flask, host: Host) -> None:
    me, other, third = host.person(1), host.person(2), host.person(3)
    host.link(me, other)
    host.link(other, me)
    host.link(other, third)
    mine = host.owned(me)
    others = others_rows(host, me)
    assert host.search("person 1") != []  # the index knows my posts (None: no index)

    erase(app, host, me)

    after = host.owned(me)
    models = {model.table.name: model for model in state(app).registry}
    for table, rows in after.items():
        if table in host.holds:  # what a hold keeps stays as it was
            assert not Counter(map(tuple, rows)) - Counter(map(tuple, mine[table])), table
            continue
        model = models.get(table)
        if model is None:  # undeclared (an association, an index): nothing may stay
            assert rows == [], table
            continue
        before = {row._mapping[model.primary_key[0].name]: row for row in mine[table]}
        for row in rows:  # what stays is blanked: every personal value gone or changed
            old = before[row._mapping[model.primary_key[0].name]]
            for column in model.columns:
                value = row._mapping[column]
                assert value is None or value != old._mapping[column], f"{table}.{column}"
    if not host.holds:
        assert {table: rows for table, rows in after.items() if rows} == {}

    now = all_rows(host)
    changed = {table: rows - now[table] for table, rows in others.items() if rows - now[table]}
    assert changed == {}, "rows of other people changed or went"
    assert host.search("person 1") in ([], None)
    assert host.search("person 2") != []


def test_erased_person_session_and_remember_cookie_are_rejected(
    app: Flask, host: Host, client: FlaskClient
) -> None:
    me = host.person(1, held=False)
    host.login(client, me, remember=True)
    cookie = remember_cookie(app, client)
    assert whoami(client) == me.email
    assert whoami(with_cookie(app, cookie)) == me.email  # the cookie alone logs in

    erase(app, host, me)

    assert whoami(client) == "anonymous"
    assert whoami(with_cookie(app, cookie)) == "anonymous"
    assert client.get("/avg/me").status_code in (302, 401)


def test_new_account_reusing_the_erased_id_logs_in_and_has_no_groups(
    app: Flask, host: Host, client: FlaskClient
) -> None:
    me = host.person(1, held=False)
    join(app, host, me, "board")
    erase(app, host, me)
    assert host.owned(me)[host.login_table] == []  # the login row went: its id is free

    newcomer = host.new_account("newcomer@example.org", "pw-newcomer", user_id=me.user_id)
    assert newcomer.user_id == me.user_id
    host.login(client, newcomer)
    for _ in range(3):
        assert whoami(client) == newcomer.email
    # theirs, or "no member record" (403: a login without a member record has no page)
    assert client.get("/avg/me").status_code in (200, 403, 404)
    assert whoami(client) == newcomer.email
    assert group_keys(app, host, newcomer.user_id) <= IMPLICIT_GROUPS
    assert client.get("/avg/members").status_code == 403


def test_password_change_keeps_flask_avg_groups(
    app: Flask, host: Host, client: FlaskClient
) -> None:
    me = host.person(1)
    join(app, host, me, "board")
    token_before = getattr(host.user(me.user_id), "fs_uniquifier", None)

    host.change_password(me, "a-new-password")

    if token_before is not None:  # Flask-Security rotates the login id on a password change
        host.db.session.expire_all()
        assert host.user(me.user_id).fs_uniquifier != token_before
    assert "board" in group_keys(app, host, me.user_id)
    host.login(client, me)
    assert client.get("/avg/members").status_code == 200


def test_host_role_checks_are_not_satisfied_by_flask_avg_groups(
    app: Flask, host: Host, client: FlaskClient
) -> None:
    board_member = host.person(1)
    join(app, host, board_member, "board")
    host.login(client, board_member)
    assert client.get("/avg/members").status_code == 200  # flask-avg's board: yes
    assert client.get(host.role_url).status_code == 403  # the host's own role: no
    if host.host_role is not None:
        with_role = host.person(2)
        host.give_role(with_role, host.host_role)
        other_client = app.test_client()
        host.login(other_client, with_role)
        assert other_client.get(host.role_url).status_code == 200


# -- retention -----------------------------------------------------------------------


def test_purge_does_what_its_preview_said(app: Flask, host: Host) -> None:
    current, gone, also_gone = host.person(1), host.person(2, old=True), host.person(3, old=True)
    host.link(current, gone)
    host.link(also_gone, current)
    avg = state(app)
    said = preview(avg)

    result = avg.purge(actor="test")
    host.db.session.commit()

    # Per model: a row may go with its expired member rather than under its own
    # category, so the totals compare; models without a category of their own go
    # with the members and are not in the preview.
    expected: Counter[str] = Counter()
    for models in said.values():
        expected.update(models)
    done: Counter[str] = Counter()
    for models in result.categories.values():
        done.update({name: c.deleted + c.anonymised for name, c in models.items()})
    assert +expected, "nothing was due: the seed is not old enough"
    assert {name: done[name] for name in expected} == dict(expected)


# -- around the data -----------------------------------------------------------------


def test_audit_log_shows_who_acted_by_name_never_a_token(
    app: Flask, host: Host, client: FlaskClient
) -> None:
    me, board = host.person(1), host.person(2)
    join(app, host, board, "board")
    host.login(client, me)
    token = csrf_token(client, "/avg/me/export")
    assert client.post("/avg/me/export", data={"format": "json", "csrf_token": token}).status_code
    board_client = app.test_client()
    host.login(board_client, board)
    page = board_client.get("/avg/audit?action=self.export").get_data(as_text=True)
    assert f"<td>{me.actor_label}</td>" in page
    secret = getattr(host.user(me.user_id), "fs_uniquifier", None)
    assert secret is None or secret not in page


def test_anonymous_visitors_go_through_the_login_manager(host: Host, client: FlaskClient) -> None:
    response = client.get("/avg/me")
    assert response.status_code == 302
    assert host.login_redirect in response.headers["Location"]


# -- the app factory's command line and migrations (Kring) -----------------------------


@pytest.mark.parametrize("host_leg", SOCIAL, indirect=True, ids=lambda p: "-".join(p))
def test_cli_works_when_the_locale_selector_reads_the_request(app: Flask, host: Host) -> None:
    me, other = host.person(1), host.person(2)
    host.link(me, other)
    runner = app.test_cli_runner()

    assigned = runner.invoke(args=["avg", "acl", "assign", other.email, "board"])
    assert assigned.exit_code == 0, assigned.output
    assert "board" in group_keys(app, host, other.user_id)

    erased = runner.invoke(args=["avg", "erase", str(me.subject_id)])
    assert erased.exit_code == 0, erased.output
    host.db.session.expire_all()
    assert {table: rows for table, rows in host.owned(me).items() if rows} == {}

    inventory = runner.invoke(args=["avg", "inventory", "--strict"])
    assert inventory.exit_code == 0, inventory.output


@pytest.mark.parametrize("host_leg", SOCIAL, indirect=True, ids=lambda p: "-".join(p))
def test_erase_api_works_outside_a_request(app: Flask, host: Host) -> None:
    """A job (cron, Celery) erases without a request; the host's locale selector reads one."""
    me = host.person(1)
    state(app).erase_subject(me.subject_id, actor="job")
    host.db.session.commit()
    assert {table: rows for table, rows in host.owned(me).items() if rows} == {}


@pytest.mark.parametrize("host_leg", SOCIAL, indirect=True, ids=lambda p: "-".join(p))
def test_inventory_strict_fails_on_an_undeclared_table_linking_users(
    app: Flask, host: Host
) -> None:
    metadata = sa.MetaData()
    blocks = sa.Table(
        "social_blocks",
        metadata,
        sa.Column("blocker_id", sa.ForeignKey(host.db.metadata.tables["social_users"].c.id)),
        sa.Column("blocked_id", sa.ForeignKey(host.db.metadata.tables["social_users"].c.id)),
    )
    blocks.create(host.db.engine)
    try:
        result = app.test_cli_runner().invoke(args=["avg", "inventory", "--strict"])
    finally:
        blocks.drop(host.db.engine)
    assert result.exit_code == 1
    assert "social_blocks" in result.output


@pytest.mark.parametrize("host_leg", SOCIAL, indirect=True, ids=lambda p: "-".join(p))
@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_migrate_autogenerate_proposes_no_drop_of_flask_avg_tables(
    app: Flask, host: Host, tmp_path: Any
) -> None:
    import flask_migrate

    folder = str(tmp_path / "migrations")
    flask_migrate.init(directory=folder)
    flask_migrate.migrate(directory=folder, message="check")
    scripts = "\n".join(p.read_text() for p in (tmp_path / "migrations" / "versions").glob("*.py"))
    dropped = [line.strip() for line in scripts.splitlines() if "drop_table('avg_" in line]
    assert dropped == []


# -- Winkel's profile ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host_leg", [("security", leg) for leg in LEGS], indirect=True, ids=lambda p: "-".join(p)
)
def test_member_can_edit_the_address_on_their_one_to_one_profile(
    host: Host, client: FlaskClient
) -> None:
    me = host.person(1)
    host.login(client, me)
    page = client.get("/avg/me/edit")
    assert page.status_code == 200
    assert 'value="Dorpsstraat 1, Utrecht"' in page.get_data(as_text=True)


# -- what flask-avg costs on the host's own pages -----------------------------------------


def _avg_statements(app: Flask, host: Host, client: FlaskClient, url: str) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    client.get(url)  # the first request of a client fills caches
    sa.event.listen(host.db.engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(host.db.engine, "before_cursor_execute", record)
    return [s for s in seen if "avg_" in s]


def test_host_pages_cost_at_most_one_statement(app: Flask, host: Host) -> None:
    """Anonymous: none. Logged in: the erased-login guard's ledger lookup; on a host
    whose own Principal loads identities on every request, also the ACL's version
    stamp (flask-avg's needs are added to every identity it loads)."""
    app.add_url_rule("/_test/plain", "test_plain", lambda: "a page of the host")
    me, board = host.person(1), host.person(2)
    join(app, host, board, "board")
    assert _avg_statements(app, host, app.test_client(), "/_test/plain") == []
    for person in (me, board):
        client = app.test_client()
        host.login(client, person)
        ours = _avg_statements(app, host, client, "/_test/plain")
        assert "avg_stamp" in ours[0], ours
        assert len(ours) == 1, ours


def test_host_pages_after_an_erasure_elsewhere(app: Flask, host: Host) -> None:
    """Another member's erasure changes the stamp: the next page of a logged-in user
    looks their own key up in the ledger once, then the cache holds again; the
    erased member's own session ends on their next page."""
    app.add_url_rule("/_test/plain", "test_plain", lambda: "a page of the host")
    me, other = host.person(1), host.person(2)
    mine, theirs = app.test_client(), app.test_client()
    host.login(mine, me)
    host.login(theirs, other)
    assert len(_avg_statements(app, host, mine, "/_test/plain")) == 1
    assert whoami(theirs) == other.email

    erase(app, host, other)

    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(host.db.engine, "before_cursor_execute", record)
    try:
        assert mine.get("/_test/plain").status_code == 200
    finally:
        sa.event.remove(host.db.engine, "before_cursor_execute", record)
    ours = [s for s in seen if "avg_" in s]
    assert "avg_stamp" in ours[0] and any("avg_erasure_ledger" in s for s in ours), ours
    assert len(_avg_statements(app, host, mine, "/_test/plain")) == 1
    assert whoami(mine) == me.email
    assert whoami(theirs) == "anonymous"
