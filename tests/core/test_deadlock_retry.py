"""A view whose transaction the database picked as a deadlock's victim runs again."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from flask_avg.extension import DEADLOCK_ATTEMPTS, is_deadlock, require
from tests.support.acl import client_for, make_users


class _MariaDeadlock(Exception):
    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock; try restarting transaction")


class _PgDeadlock(Exception):
    sqlstate = "40P01"


def _deadlock(orig: Exception) -> OperationalError:
    return OperationalError("UPDATE avg_audit_chain ...", {}, orig)


@pytest.mark.parametrize("orig", [_MariaDeadlock(), _PgDeadlock()])
def test_deadlocks_are_recognised_and_other_errors_are_not(orig):
    assert is_deadlock(_deadlock(orig))
    assert not is_deadlock(OperationalError("SELECT 1", {}, Exception(2006, "gone away")))


def _app_with_view(app, failures: int, orig: Exception):
    calls = []

    @require("avg.self.view")
    def flaky():
        calls.append(1)
        if len(calls) <= failures:
            raise _deadlock(orig)
        return f"ran {len(calls)} times"

    app.add_url_rule("/flaky", "flaky", flaky)
    return calls


def test_a_deadlock_victim_runs_again_and_answers(app):
    calls = _app_with_view(app, 1, _MariaDeadlock())
    client = client_for(app, make_users()["member"])
    response = client.get("/flaky")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ran 2 times"
    assert len(calls) == 2


def test_a_view_that_keeps_deadlocking_gives_up(app):
    calls = _app_with_view(app, DEADLOCK_ATTEMPTS, _PgDeadlock())
    client = client_for(app, make_users()["member"])
    with pytest.raises(OperationalError):  # TESTING propagates what would be a 500
        client.get("/flaky")
    assert len(calls) == DEADLOCK_ATTEMPTS
