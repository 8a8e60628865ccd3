"""Core pages: the flask-avg start page and the language switch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template, request, session
from flask_login import current_user

from flask_avg.core.config import config_value
from flask_avg.core.redirects import safe_redirect
from flask_avg.core.web import STATIC, catch_unknown_urls, make_blueprint
from flask_avg.extension import get_state

if TYPE_CHECKING:
    from flask_avg.extension import AvgState


def index() -> Any:
    if not current_user.is_authenticated:
        return get_state().deny("avg.self.view")
    return render_template("avg/index.html")


def set_language(code: str) -> Any:
    # A preference, not personal data: no CSRF needed, nothing stored server-side.
    if code in config_value("LOCALES"):
        session["avg_locale"] = code
    # Only same-site paths: an open redirect would let links phish members.
    return safe_redirect(request.args.get("next"))


def create_blueprint(state: AvgState) -> Blueprint:
    bp = make_blueprint("core", __name__)
    bp.static_folder = STATIC
    bp.static_url_path = "/static"
    bp.add_url_rule("/", endpoint="index", view_func=index)
    bp.add_url_rule("/lang/<code>", endpoint="set_language", view_func=set_language)
    catch_unknown_urls(bp)
    return bp
