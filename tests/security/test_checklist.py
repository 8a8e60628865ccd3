"""``flask avg check --security`` and the dashboard's security panel: one checklist."""

from __future__ import annotations

import secrets

from example_app.models import db
from flask_avg.core import checklist
from flask_avg.extension import get_state
from tests.support.acl import client_for, make_users


def _verdicts(app) -> dict[str, str]:
    return {line.key: line.verdict for line in checklist.run(app, get_state())}


def test_a_test_setup_fails_the_checklist_with_reasons(app):
    verdicts = _verdicts(app)
    # SECRET_KEY "test", no secure cookies, no purge ever: not fit for production
    assert verdicts["secret_key"] == "fail"
    assert verdicts["purge"] == "fail"
    assert verdicts["cookies"] in ("warn", "fail")
    result = app.test_cli_runner().invoke(args=["avg", "check", "--security"])
    assert result.exit_code == 1
    assert "[fail]" in result.output and "SECRET_KEY" in result.output


def test_a_production_setup_passes(app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=True,
        MAIL_SERVER="smtp.example.org",
    )
    app.secret_key = app.config["SECRET_KEY"]
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    get_state().purge(actor="cli")
    db.session.commit()
    verdicts = _verdicts(app)
    assert set(verdicts.values()) == {"ok"}, verdicts
    result = app.test_cli_runner().invoke(args=["avg", "check", "--security"])
    assert result.exit_code == 0, result.output


def test_a_dry_run_does_not_count_as_a_purge(app):
    get_state().purge(dry_run=True, actor="cli")
    db.session.commit()
    assert _verdicts(app)["purge"] == "fail"


def test_the_board_dashboard_shows_the_same_lines(app):
    users = make_users()
    page = client_for(app, users["board"]).get("/avg/dashboard")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for line in checklist.run(app, get_state()):
        assert f'data-check="{line.key}" data-verdict="{line.verdict}"' in text
    assert client_for(app, users["member"]).get("/avg/dashboard").status_code == 403
