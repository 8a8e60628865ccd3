"""The README's quickstart snippet is true: it runs, and a member reaches their page."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from flask_login import login_user

from tests.support import ROOT as REPO

README = REPO / "README.md"


def _quickstart_module(tmp_path: Path) -> types.ModuleType:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace("sqlite:///club.db", f"sqlite:///{tmp_path / 'club.db'}")
    module = types.ModuleType("readme_club")
    sys.modules["readme_club"] = module
    exec(compile(code, str(README), "exec"), module.__dict__)  # noqa: S102 - our own README
    return module


def test_quickstart_snippet_works(tmp_path):
    club = _quickstart_module(tmp_path)
    try:
        app = club.create_app()
        app.config["TESTING"] = True
        runner = app.test_cli_runner()
        with app.app_context():
            club.db.create_all()
        assert runner.invoke(args=["avg", "init-db"]).exit_code == 0
        with app.app_context():
            member = club.Member(name="Anna", email="anna@example.org", password_hash="x")
            club.db.session.add(member)
            club.db.session.flush()
            club.db.session.add(
                club.Invoice(member_id=member.id, invoice_date=club.date(2024, 1, 1), amount=120)
            )
            club.db.session.commit()
            member_id = member.id
        client = app.test_client()

        @app.route("/test-login")
        def _test_login():
            login_user(club.db.session.get(club.Member, member_id))
            return "ok"

        client.get("/test-login")
        page = client.get("/avg/me").get_data(as_text=True)
        assert "anna@example.org" in page and "Mijn gegevens" in page
        assert 'data-field="invoice_date"' in page
        assert 'data-field="password_hash"' not in page
        with app.app_context():
            club.db.engine.dispose()
    finally:
        sys.modules.pop("readme_club", None)
