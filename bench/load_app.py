"""The apps ``python -m bench load`` serves with gunicorn.

``gunicorn 'bench.load_app:create()'`` reads the database from ``AVG_LOAD_DB`` and
whether to mount flask-avg from ``AVG_LOAD_WITH_AVG`` (``1``: the example club as
it is; ``0``: the same host, its login and its page ``/host``, without
``avg.init_app``). Both serve ``/host``: a logged-in host page of the club's own
that greets the member, so the two measure what flask-avg adds to a page it does
not own.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_login import LoginManager, current_user

CONFIG = {
    "SECRET_KEY": "load-bench",
    "CLUB_LOGIN_LIMIT": "100000 per minute",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 4, "pool_pre_ping": True},
}


def host_page() -> Any:
    if not current_user.is_authenticated:
        return "not logged in", 401
    return f"Hallo {current_user.email}"


def create() -> Flask:
    url = os.environ["AVG_LOAD_DB"]
    config = {**CONFIG, "SQLALCHEMY_DATABASE_URI": url}
    if os.environ.get("AVG_LOAD_WITH_AVG", "1") == "1":
        from example_app import create_app

        app = create_app(config, instance_path=os.environ.get("AVG_LOAD_INSTANCE"))
    else:
        from flask_limiter import Limiter
        from flask_limiter.util import get_remote_address

        from example_app import load_user
        from example_app.models import db

        # the club's own stack as create_app builds it, without avg.init_app
        app = Flask("club")
        app.config.update(config, SESSION_COOKIE_SAMESITE="Lax", RATELIMIT_STORAGE_URI="memory://")
        db.init_app(app)
        manager = LoginManager(app)
        manager.user_loader(load_user)
        Limiter(get_remote_address, app=app)
    app.add_url_rule("/host", "load_host_page", host_page)
    return app
