"""Setting the extension up: registration, configuration, errors a host can make."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy

from example_app import create_app
from example_app.models import db
from flask_avg import AVG, ConfigurationError
from flask_avg.core.config import DEFAULTS


def _bare_app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="t", SQLALCHEMY_DATABASE_URI="sqlite://", **config)
    return app


def test_state_lives_in_app_extensions_and_registering_twice_raises(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}"})
    state = app.extensions["avg"]
    assert state.registry.subject.name == "Member"
    with pytest.raises(RuntimeError, match="already registered"):
        AVG(app, db)
    with app.app_context():
        db.engine.dispose()


def test_defaults_are_applied_with_setdefault(tmp_path):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}", "AVG_URL_PREFIX": "/privacy"}
    )
    assert app.config["AVG_URL_PREFIX"] == "/privacy"
    assert app.config["AVG_DEFAULT_LOCALE"] == "nl"
    assert set(DEFAULTS) <= {k[4:] for k in app.config if k.startswith("AVG_")}
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "/privacy/me" in rules and "/avg/me" not in rules
    with app.app_context():
        db.engine.dispose()


def test_unknown_avg_key_is_an_error_with_a_hint(tmp_path):
    with pytest.raises(
        ConfigurationError, match=r"AVG_URL_PREFX \(did you mean AVG_URL_PREFIX\?\)"
    ):
        create_app(
            {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}", "AVG_URL_PREFX": "/x"}
        )


def test_default_locale_must_be_offered(tmp_path):
    with pytest.raises(ConfigurationError, match="AVG_DEFAULT_LOCALE"):
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}",
                "AVG_DEFAULT_LOCALE": "de",
            }
        )


def test_needs_db_sqlalchemy_and_login_manager_first():
    with pytest.raises(ConfigurationError, match="Flask-SQLAlchemy"):
        AVG(_bare_app())
    app = _bare_app()
    other_db = SQLAlchemy()
    with pytest.raises(ConfigurationError, match="db.init_app"):
        AVG(app, other_db)
    other_db.init_app(app)
    with pytest.raises(ConfigurationError, match="Flask-Login"):
        AVG(app, other_db)
    LoginManager(app)
    with pytest.raises(ConfigurationError, match="no subject model"):
        AVG(app, other_db)


def test_blueprints_can_be_left_out(tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}",
            "AVG_BLUEPRINTS": ("core", "self_service"),
        }
    )
    assert "avg_self" in app.blueprints and "avg_admin" not in app.blueprints
    with app.app_context():
        db.engine.dispose()


def test_cli_group_is_registered(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.db'}"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["avg", "init-db"])
    assert result.exit_code == 0, result.output
    assert "6 default group(s) added" in result.output
    result = runner.invoke(args=["avg", "check"])
    assert result.exit_code == 0, result.output
    assert "Payment (related, payments): payments -> invoices -> members" in result.output
    assert "password_hash: account, Inloggen op de website, contract, secret" in result.output
    with app.app_context():
        db.engine.dispose()
