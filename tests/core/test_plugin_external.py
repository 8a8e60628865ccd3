"""External erasures: what plugins remove outside the database, after the commit.

On the example club, with a mailing service of the test's own that can be
down beside the club's photos plugin: a failed external erasure never undoes
the database erasure; it stays owed with its attempts and error, is audited,
shown on the board's dashboard and retried by the board's button, ``flask avg
plugins retry`` and the purge, until it succeeds. A dry-run purge queues
nothing. ``flask avg plugins list`` names every plugin and what it still owes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from example_app.models import Member, User, db
from example_app.photos import MemberPhotos, photo_dir, save_photo
from flask_avg import Plugin
from flask_avg.core import external
from flask_avg.core.models import ExternalErasure
from flask_avg.core.plugins import load
from flask_avg.extension import BUILTIN_PLUGINS, get_state
from tests.support.app import csrf_token
from tests.support.factories import full_member
from tests.support.self_service import audit, details, logged_in, make_board, member_with_login

BUILTIN_NAMES = [load(spec).name for spec in BUILTIN_PLUGINS]


class Mailing(Plugin):
    """A mailing service outside the database that can be down."""

    name = "tp.mailing"
    external = True

    def __init__(self) -> None:
        self.down = False
        self.calls: list[tuple[list[str], str]] = []

    def erase_external(self, ctx):  # type: ignore[no-untyped-def]
        self.calls.append((list(ctx.keys), ctx.reason))
        if self.down:
            raise ConnectionError("mailing service down")


@pytest.fixture
def mailing(app) -> Mailing:
    plugin = Mailing()
    get_state().plugins.add(plugin)
    return plugin


def _owed() -> list[ExternalErasure]:
    db.session.rollback()
    return external.pending(get_state())


def _committed_member(member_id: int) -> Any:
    """The member row as another connection sees it: what was committed."""
    table = Member.__table__
    with db.engine.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.id == member_id)).mappings().one()


def test_a_failed_external_erasure_is_recorded_after_the_commit(app, mailing):
    built = full_member(1)
    db.session.commit()
    member_id, user_id = built.member.id, built.user.id
    save_photo(member_id, "<svg/>")
    mailing.down = True

    get_state().erase_subject(member_id, reason="request")

    assert not _committed_member(member_id)["first_name"].startswith("Voornaam")
    assert db.session.get(User, user_id) is None
    assert get_state().lifecycle.is_erased("Member", member_id)
    assert not list(photo_dir().glob(f"{member_id}.*"))  # the photos plugin did its part
    [row] = _owed()
    assert (row.plugin, row.subject, row.reason) == ("tp.mailing", str(member_id), "request")
    assert row.attempts == 1 and row.last_attempt_at is not None
    assert row.last_error == "ConnectionError: mailing service down"
    assert mailing.calls == [([str(member_id)], "request")]
    failed = audit("plugin.external_failed")
    assert [e.outcome for e in failed] == ["error"]
    assert details(failed) == [
        {"plugin": "tp.mailing", "subjects": 1, "error": "ConnectionError: mailing service down"}
    ]
    # the photos plugin succeeded: its erasure is audited, and only its own
    assert [d["plugin"] for d in details(audit("plugin.external_erased"))] == ["club.photos"]


def test_the_board_sees_the_failure_and_retries_it(app, client, mailing):
    board = make_board(member_with_login(1))
    gone = full_member(2)
    db.session.commit()
    gone_id = gone.member.id
    logged_in(client, board)
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert 'id="avg-panel-external"' in page and "data-plugin=" not in page

    mailing.down = True
    get_state().erase_subject(gone_id)
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert 'data-plugin="tp.mailing"' in page
    assert "ConnectionError: mailing service down" in page
    assert 'action="/avg/retention/external"' in page

    # without the form's token nothing is tried
    assert client.post("/avg/retention/external").status_code == 400
    assert [r.attempts for r in _owed()] == [1]

    token = csrf_token(client, "/avg/dashboard")
    response = client.post("/avg/retention/external", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/avg/dashboard")
    assert [r.attempts for r in _owed()] == [2]  # still down: tried again, still owed
    assert len(audit("plugin.external_failed")) == 2

    mailing.down = False
    response = client.post("/avg/retention/external", data={"csrf_token": token})
    assert response.status_code == 302
    assert _owed() == []
    assert mailing.calls[-1] == ([str(gone_id)], "request")
    erased = [d for d in details(audit("plugin.external_erased")) if d["plugin"] == "tp.mailing"]
    assert erased == [{"plugin": "tp.mailing", "subjects": 1}]
    page = client.get("/avg/dashboard").get_data(as_text=True)
    assert "data-plugin=" not in page


def test_a_member_without_the_right_cannot_retry(app, client, mailing):
    me = member_with_login(1)
    gone = full_member(2)
    db.session.commit()
    mailing.down = True
    get_state().erase_subject(gone.member.id)
    logged_in(client, me)
    token = csrf_token(client, "/avg/me/export")  # any form of theirs gives a valid token
    assert client.post("/avg/retention/external", data={"csrf_token": token}).status_code == 403
    assert [r.attempts for r in _owed()] == [1]
    assert len(mailing.calls) == 1


def test_flask_avg_plugins_retry_retries_and_exits_non_zero_on_failure(app, mailing):
    gone = full_member(1)
    db.session.commit()
    mailing.down = True
    get_state().erase_subject(gone.member.id)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["avg", "plugins", "retry"])
    assert result.exit_code == 1
    assert "external erasures: 0 done, 1 failed" in result.output
    assert [r.attempts for r in _owed()] == [2]

    mailing.down = False
    result = runner.invoke(args=["avg", "plugins", "retry"])
    assert result.exit_code == 0, result.output
    assert "external erasures: 1 done, 0 failed" in result.output
    assert _owed() == []
    assert any(d["plugin"] == "tp.mailing" for d in details(audit("plugin.external_erased")))
    result = runner.invoke(args=["avg", "plugins", "retry"])
    assert result.exit_code == 0 and "0 done, 0 failed" in result.output


def test_the_purge_carries_out_erasures_left_owed(app, mailing):
    gone = full_member(1)
    db.session.commit()
    key = str(gone.member.id)
    mailing.down = True
    get_state().erase_subject(gone.member.id)

    result = get_state().purge()  # still down
    assert (result.external_done, result.external_failed) == (0, 1)
    assert [r.attempts for r in _owed()] == [2]

    mailing.down = False
    result = get_state().purge()
    assert (result.external_done, result.external_failed) == (1, 0)
    assert _owed() == []
    # asked again with the erasure's own reason, not the purge's
    assert mailing.calls == [([key], "request")] * 3


def test_a_dry_run_purge_queues_nothing_and_the_real_one_erases_outside(app, mailing):
    long_ago = date.today() - timedelta(days=365 * 20)
    expired = full_member(1)
    expired.member.end_date = long_ago
    current = full_member(2)
    db.session.commit()
    expired_id, current_id = expired.member.id, current.member.id
    save_photo(expired_id, "<svg/>")
    save_photo(current_id, "<svg/>")

    dry = get_state().purge(dry_run=True)
    assert dry.categories["members"]["Member"].anonymised == 1  # it saw the expired member
    assert _owed() == [] and mailing.calls == []
    assert (photo_dir() / f"{expired_id}.svg").exists()
    assert _committed_member(expired_id)["first_name"] == "Voornaam1"
    assert (dry.external_done, dry.external_failed) == (0, 0)

    result = get_state().purge()
    assert (result.external_done, result.external_failed) == (2, 0)  # photos and mailing
    assert mailing.calls == [([str(expired_id)], "retention")]
    assert _owed() == []
    assert not (photo_dir() / f"{expired_id}.svg").exists()
    assert (photo_dir() / f"{current_id}.svg").exists()


# -- flask avg plugins list --------------------------------------------------------


def test_plugins_list_names_every_plugin_and_what_is_owed(app, monkeypatch):
    gone = full_member(1)
    db.session.commit()
    gone_id = gone.member.id
    photo = save_photo(gone_id, "<svg/>")

    def share_offline(self: MemberPhotos, ctx: Any) -> None:
        raise PermissionError("photo share is read-only")

    monkeypatch.setattr(MemberPhotos, "erase_external", share_offline)
    get_state().erase_subject(gone_id)
    assert photo.exists()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["avg", "plugins", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == [*BUILTIN_NAMES, "club.photos"]
    assert (
        "club.photos [Pasfoto's] (example_app.photos): pages: -, external erasures owed: 1" in lines
    )
    assert "retention (flask_avg.features.retention): pages: retention" in lines
    assert "acl (flask_avg.features.acl): pages: acl" in lines

    monkeypatch.undo()  # the share is back
    result = runner.invoke(args=["avg", "plugins", "retry"])
    assert result.exit_code == 0 and "1 done, 0 failed" in result.output
    assert not photo.exists()
    result = runner.invoke(args=["avg", "plugins", "list"])
    assert "club.photos [Pasfoto's] (example_app.photos): pages: -, external erasures owed: 0" in (
        result.output.splitlines()
    )
