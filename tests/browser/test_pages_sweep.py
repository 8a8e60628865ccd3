"""Every flask-avg page, as member, board and administrator, on a phone and a desktop,
in Dutch and English: no page wider than the screen, no axe-core violation.

The pages are collected from the app's URL map (every GET rule of flask-avg's
blueprints), ids filled from the demo club; only downloads are left out. A
screenshot of each page goes to ``AVG_SCREENSHOT_DIR`` (default ``tests/_screens``).
axe-core comes from the npm registry (``make test`` installs it into ``.node``).
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from example_app.models import Member, User, db
from flask_avg.core.types import utcnow
from flask_avg.extension import get_state
from flask_avg.features.acl.models import Group
from flask_avg.features.breaches.models import Breach
from flask_avg.features.export.jobs import KIND as EXPORT_JOB
from flask_avg.features.guardians import service as guardians
from flask_avg.features.requests import service as reqs
from flask_avg.features.retention import runs
from tests.support.app import REQUIRE_SERVERS, browser_login

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".node" / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = Path(os.environ.get("AVG_SCREENSHOT_DIR") or ROOT / "tests" / "_screens")
ROLES = ("lid@example.org", "bestuur@example.org", "admin@example.org")
WIDTHS = (390, 1280)
LANGUAGES = ("nl", "en")
#: Not pages: the language switch redirects, static files are files, the catch-all
#: of unknown URLs is the 404 page.
NOT_PAGES = {
    "avg_core.set_language",
    "avg_core.static",
    "avg_core.unknown_url",
    "avg_jobs.static",
}


def axe_source() -> Path:
    if not AXE.exists():
        reason = "axe-core is not installed (npm install --prefix .node axe-core@4; make test does)"
        if REQUIRE_SERVERS:
            pytest.fail(reason + "; CI runs the accessibility sweep")
        pytest.skip(reason)
    return AXE


def seed_ids(app: Any) -> dict[str, str]:
    """One existing id for every kind of URL part: a member, a request, a breach...

    A key ``"endpoint:part"`` gives that endpoint its own value (the tokens differ per
    page); a token no page issued shows that page's answer to a stale link.
    """
    with app.test_request_context():
        state = get_state()
        member = db.session.scalars(
            db.select(Member).join(User, Member.user_id == User.id).where(User.email == ROLES[0])
        ).one()
        req = reqs.file_request(
            state, member.id, "restriction", user_id=str(member.user_id), message="Even pauze"
        )
        breach = Breach(title="Laptop kwijt", discovered_at=utcnow() - timedelta(hours=30))
        db.session.add(breach)
        db.session.commit()
        group = db.session.scalars(db.select(Group).order_by(Group.id)).first()
        assert group is not None
        link = guardians.invite(state, member, "ouder@example.org", actor=None)
        invitation = guardians._serializer().dumps({"l": link.id, "n": link.nonce})
        board = db.session.scalars(db.select(User).where(User.email == ROLES[1])).one()
        job = state.jobs.create(EXPORT_JOB, owner=str(board.id), params={"format": "csv"})
        db.session.commit()
        run_id = runs.open_run(state, trigger="board", actor=str(board.id), as_of=utcnow().date())
        runs.close_run(db.session, run_id, "done", {"deleted": 0, "anonymised": 0})
        db.session.commit()
        return {
            "token": "a-stale-link",
            "avg_guardians.accept:token": invitation,
            "job_id": job.id,
            "run_id": str(run_id),
            "subject_id": str(member.id),
            "request_id": str(req.id),
            "breach_id": str(breach.id),
            "group_id": str(group.id),
            "key": "newsletter",
        }


def flask_avg_pages(app: Any, ids: dict[str, str]) -> list[tuple[str, str]]:
    """(name, path) of every GET page of flask-avg's blueprints."""
    pages = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("avg_") or rule.endpoint in NOT_PAGES:
            continue
        if "GET" not in (rule.methods or ()):
            continue
        own = {name: ids.get(f"{rule.endpoint}:{name}", ids.get(name)) for name in rule.arguments}
        missing = {name for name, value in own.items() if value is None}
        assert not missing, f"no id for {rule.rule}: add one to seed_ids"
        path = rule.rule
        for name, value in own.items():
            path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), path)
        name = rule.endpoint.replace("avg_", "").replace(".", "-")
        if rule.arguments:
            name += "-" + "-".join(sorted(rule.arguments))
        pages.append((name, path))
    return sorted(set(pages))


def is_download(response: Any) -> bool:
    disposition = response.headers.get("content-disposition", "")
    kind = response.headers.get("content-type", "")
    return "attachment" in disposition or not kind.startswith("text/html")


def test_every_page_fits_the_screen_and_passes_axe(live_server, browser):
    # evaluated rather than added as a <script>: the pages' CSP (rightly) blocks inline
    # scripts, and the sweep should see the pages as the CSP leaves them
    axe = axe_source().read_text(encoding="utf-8")
    SCREENS.mkdir(parents=True, exist_ok=True)
    ids = seed_ids(live_server.app)
    pages = flask_avg_pages(live_server.app, ids)
    problems: list[str] = []
    visited = 0
    for role in ROLES:
        who = role.split("@")[0]
        for lang in LANGUAGES:
            context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            browser_login(page, live_server.url, role)
            page.goto(f"{live_server.url}/avg/lang/{lang}?next=/avg/")
            html_pages = [
                (name, path)
                for name, path in pages
                if not is_download(context.request.get(live_server.url + path))
            ]
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                for name, path in html_pages:
                    where = f"{who} {lang} {width}px {path}"
                    response = page.goto(live_server.url + path)
                    assert response is not None
                    if response.status >= 500:
                        problems.append(f"{where}: HTTP {response.status}")
                        continue
                    visited += 1
                    lang_attr = page.evaluate("document.documentElement.lang")
                    if lang_attr != lang:
                        problems.append(f"{where}: <html lang={lang_attr!r}>")
                    widths = page.evaluate(
                        "[document.documentElement.scrollWidth, window.innerWidth]"
                    )
                    if widths[0] > widths[1]:
                        problems.append(f"{where}: {widths[0]} px wide in {widths[1]} px")
                    page.evaluate(axe)
                    violations = page.evaluate(
                        "async () => (await axe.run(document, {resultTypes: ['violations']}))"
                        ".violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))}))"
                    )
                    for v in violations:
                        problems.append(f"{where}: axe {v['id']} at {json.dumps(v['nodes'][:3])}")
                    page.screenshot(
                        path=str(SCREENS / f"{who}-{lang}-{width}-{name}.png"), full_page=True
                    )
            context.close()
    (SCREENS / "problems.txt").write_text("\n".join(problems) + "\n", encoding="utf-8")
    assert visited > 100
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
