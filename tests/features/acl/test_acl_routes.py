"""Every flask-avg route against every default group, from a table of minimum groups.

The table maps an endpoint to the least privileged default group that may use
it (``"public"``: anyone). A route without an entry fails the test, so a new
view cannot slip in unguarded. Entries are ``"group"`` or ``("group", status)``
when a permitted request does not answer 200 (a redirect, or 400 for a POST
sent here without its CSRF token). Users below the minimum get 403, anonymous
visitors a redirect to the login page.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from example_app.models import db
from tests.support.acl import LEVELS, client_for, group, log_in, make_users

POST_WITHOUT_CSRF = 400

#: endpoint -> minimum default group, or (minimum group, status when permitted).
ROUTES: dict[str, str | tuple[str, int]] = {
    # core
    "avg_core.static": "public",
    "avg_core.set_language": ("public", 302),
    "avg_core.index": "member",
    # any other URL under the prefix: flask-avg's 404 page, for anyone
    "avg_core.unknown_url": ("public", 404),
    # self-service
    "avg_self.me": "member",
    # the board's member pages
    "avg_admin.members": "board",
    "avg_admin.member": "board",
    # access control
    "avg_acl.index": "administrator",
    "avg_acl.group": "administrator",
    "avg_acl.add_group": ("administrator", POST_WITHOUT_CSRF),
    "avg_acl.rename_group": ("administrator", POST_WITHOUT_CSRF),
    "avg_acl.move_group": ("administrator", POST_WITHOUT_CSRF),
    "avg_acl.delete_group": ("administrator", POST_WITHOUT_CSRF),
    "avg_acl.add_member": ("administrator", POST_WITHOUT_CSRF),
    "avg_acl.remove_member": ("administrator", POST_WITHOUT_CSRF),
    "avg_acl.set_rules": ("administrator", POST_WITHOUT_CSRF),
    # accountability: consent, register, inventory, breaches, dashboard, audit log
    "avg_accountability.consent_page": "member",
    "avg_accountability.consent_choose": ("member", POST_WITHOUT_CSRF),
    "avg_accountability.consent_review": ("member", 302),  # nothing to re-read: back to the page
    "avg_accountability.consent_purposes": "board",
    "avg_accountability.consent_purpose_edit": "board",
    "avg_accountability.consent_member_lookup": ("board", 302),  # no member given: back
    "avg_accountability.consent_member": "board",
    "avg_accountability.register_page": "board",
    "avg_accountability.register_xlsx": "board",
    "avg_accountability.annex_page": "board",
    "avg_accountability.annex_markdown": "board",
    "avg_accountability.inventory_page": "board",
    "avg_accountability.breaches_list": "board",
    "avg_accountability.breach_edit": "board",
    "avg_accountability.breaches_csv": "board",
    "avg_accountability.dashboard": "board",
    "avg_accountability.audit_log": "board",
    # self-service: corrections, requests, the board's queue and field rights
    "avg_self.edit": "member",
    "avg_self.my_requests": "member",
    "avg_self.request_queue": "board",
    "avg_self.request_detail": "board",
    "avg_self.lift_request": ("board", POST_WITHOUT_CSRF),
    "avg_self.record_request": "board",
    "avg_self.apply_correction": ("board", POST_WITHOUT_CSRF),
    "avg_self.request_erase": ("board", 302),  # not an erasure request: back to its page
    "avg_self.extend_request": ("board", POST_WITHOUT_CSRF),
    "avg_self.field_rights": "board",
    # retention: options page; erasing one member (a GET asks for confirmation)
    "avg_retention.manage": "board",
    "avg_retention.erase": "board",
    "avg_retention.retry_external": ("board", POST_WITHOUT_CSRF),
    "avg_retention.purge_now": ("board", POST_WITHOUT_CSRF),
    "avg_retention.run": ("board", 404),  # no purge ran in this club
    "avg_retention.run_status": ("board", 404),
    # export: a GET shows the buttons, the download itself is a CSRF-checked POST
    "avg_export.me": "member",
    "avg_export.member": "board",
    "avg_export.members": "board",
    "avg_export.audit": "board",
    # guardians: switching and accepting need a login (the guardianship or the invitation
    # is the check); a forged invitation is gone (410); the board links and unlinks
    "avg_guardians.switch": ("member", POST_WITHOUT_CSRF),
    "avg_guardians.accept": ("member", 410),
    "avg_guardians.member_guardians": "board",
    "avg_guardians.unlink": ("board", POST_WITHOUT_CSRF),
    # requests without an account: the page and its links are for anyone (a forged
    # link is gone: 410); the board's list and its "more proof" button
    "avg_public.public_request": "public",
    "avg_public.sent": "public",
    "avg_public.verify": ("public", 410),
    "avg_public.download": ("public", 410),
    "avg_public.board": "board",
    "avg_public.more_proof": ("board", POST_WITHOUT_CSRF),
    # jobs: only the account that started one sees it (the job here is nobody's: 404
    # for whoever may export the list, 403 below); the static folder has no avg.css
    "avg_jobs.static": ("public", 404),
    "avg_jobs.status": ("board", 404),
    "avg_jobs.status_json": ("board", 404),
    "avg_jobs.download": ("board", 404),
    "avg_jobs.retry": ("board", 404),
}


def url_arguments(users: Any) -> dict[str, Any]:
    """A value for every URL argument name any flask-avg route uses."""
    from example_app.models import Member

    member = db.session.scalars(db.select(Member).order_by(Member.id)).first()
    return {
        "filename": "avg.css",
        "code": "en",
        "subject_id": member.id,
        "group_id": group("board").id,
        "user_id": str(users["board"].id),
        "key": _a_board_purpose(),
        "breach_id": _a_breach().id,
        "request_id": _a_request(users),
        "token": "not-a-token",
        "link_id": 1,
        "job_id": _a_job(),
        "run_id": 1,
        "path": "no-such-page",
    }


def _a_job() -> str:
    """A member-list export job somebody outside the test's users started."""
    from flask_avg.extension import get_state

    job = get_state().jobs.create("export.members", owner="nobody", params={"format": "csv"})
    db.session.commit()
    return job.id


def _a_board_purpose() -> str:
    """A consent purpose the board entered (code-declared ones are edited in code)."""
    from flask_avg.features.consent.models import ConsentPurposeRow

    if db.session.get(ConsentPurposeRow, "photos") is None:
        db.session.add(
            ConsentPurposeRow(
                key="photos", label="Foto's", text="Foto's op de website", version="1"
            )
        )
        db.session.commit()
    return "photos"


def _a_request(users: Any) -> int:
    """An open restriction request of the member, so request pages have one to show."""
    from example_app.models import Member
    from flask_avg.extension import get_state
    from flask_avg.features.requests import engine
    from flask_avg.features.requests.models import DataRequest

    found = db.session.scalars(db.select(DataRequest)).first()
    if found is None:
        member = db.session.scalars(db.select(Member).order_by(Member.id)).first()
        found = engine.file_request(
            get_state(), member.id, "restriction", user_id=str(member.user_id)
        )
    return found.id


def _a_breach() -> Any:
    from datetime import UTC, datetime

    from flask_avg.features.breaches.models import Breach

    breach = db.session.scalars(db.select(Breach)).first()
    if breach is None:
        now = datetime.now(UTC)
        breach = Breach(title="Lost laptop", discovered_at=now, started_at=now)
        db.session.add(breach)
        db.session.commit()
    return breach


#: pages that send users from this level up elsewhere: the start page sends the
#: board to its dashboard
LANDINGS = {"avg_core.index": "board"}


def expected(endpoint: str, level: str) -> int:
    landing = LANDINGS.get(endpoint)
    if landing is not None and LEVELS.index(level) >= LEVELS.index(landing):
        return 302
    entry = ROUTES[endpoint]
    minimum, ok = (entry, 200) if isinstance(entry, str) else entry
    if LEVELS.index(level) >= LEVELS.index(minimum):
        return ok
    return 302 if level == "public" else 403


def avg_rules(app: Flask) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("avg_")]


def test_every_route_has_an_entry(app):
    missing = sorted({rule.endpoint for rule in avg_rules(app)} - set(ROUTES))
    assert not missing, f"add these flask-avg endpoints to ROUTES in {__name__}: {missing}"


def test_every_route_against_every_default_group(app):
    users = make_users()
    args = url_arguments(users)
    client = client_for(app)
    wrong = []
    for rule in sorted(avg_rules(app), key=lambda r: r.endpoint):
        assert rule.endpoint in ROUTES, f"{rule.endpoint} has no entry in ROUTES"
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{name: args[name] for name in rule.arguments})
        method = "GET" if "GET" in (rule.methods or ()) else "POST"
        for level in LEVELS:
            log_in(client, users[level])
            response = client.open(url, method=method)
            response.close()
            want = expected(rule.endpoint, level)
            if response.status_code != want:
                wrong.append(f"{method} {url} as {level}: {response.status_code}, expected {want}")
            if want == 302 and level == "public" and expected(rule.endpoint, "super_user") != 302:
                assert "/login" in response.headers["Location"], url
    assert not wrong, "\n".join(wrong)
