"""Out-of-range ids, dates and strings on every flask-avg route: never a server error.

Every rule in ``app.url_map`` is requested with each of its URL arguments replaced
by hostile values (25 digits, 2**63, -1, NUL, 5,000 characters, ...), and every
query parameter a page reads with hostile values too. The table below lists, per
endpoint, the query parameters it reads; a route missing from it fails the suite,
so a new page cannot slip in untested.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from werkzeug.exceptions import NotFound

from tests.support.acl import client_for, make_users
from tests.support.hostile import avg_rules, url_args

#: endpoint -> the query-string parameters it reads (hostile values go there too).
ROUTES: dict[str, tuple[str, ...]] = {
    "avg_core.static": (),
    "avg_core.index": (),
    "avg_core.set_language": ("next",),
    "avg_core.unknown_url": (),
    "avg_self.me": (),
    "avg_self.edit": (),
    "avg_self.my_requests": (),
    "avg_self.request_queue": ("show",),
    "avg_self.request_detail": (),
    "avg_self.lift_request": (),
    "avg_self.record_request": ("q", "subject"),
    "avg_self.apply_correction": (),
    "avg_self.request_erase": (),
    "avg_self.extend_request": (),
    "avg_self.field_rights": (),
    "avg_admin.members": ("q", "page"),
    "avg_admin.member": (),
    "avg_acl.index": (),
    "avg_acl.group": (),
    "avg_acl.add_group": (),
    "avg_acl.rename_group": (),
    "avg_acl.move_group": (),
    "avg_acl.delete_group": (),
    "avg_acl.add_member": (),
    "avg_acl.remove_member": (),
    "avg_acl.set_rules": (),
    "avg_accountability.consent_page": (),
    "avg_accountability.consent_choose": (),
    "avg_accountability.consent_review": ("next",),
    "avg_accountability.consent_purposes": (),
    "avg_accountability.consent_purpose_edit": (),
    "avg_accountability.consent_member_lookup": ("subject_id",),
    "avg_accountability.consent_member": (),
    "avg_accountability.register_page": (),
    "avg_accountability.register_xlsx": (),
    "avg_accountability.annex_page": (),
    "avg_accountability.annex_markdown": (),
    "avg_accountability.inventory_page": (),
    "avg_accountability.breaches_list": (),
    "avg_accountability.breach_edit": (),
    "avg_accountability.breaches_csv": (),
    "avg_accountability.dashboard": (),
    "avg_accountability.audit_log": ("page", "from", "to", "actor", "subject", "action", "outcome"),
    "avg_retention.manage": (),
    "avg_retention.erase": (),
    "avg_retention.retry_external": (),
    "avg_retention.purge_now": (),
    "avg_retention.run": (),
    "avg_retention.run_status": (),
    "avg_export.me": ("format",),
    "avg_export.member": ("format",),
    "avg_export.members": ("q",),
    "avg_export.audit": (),
    "avg_guardians.switch": (),
    "avg_guardians.accept": (),
    "avg_guardians.member_guardians": (),
    "avg_guardians.unlink": (),
    "avg_public.public_request": (),
    "avg_public.sent": (),
    "avg_public.verify": (),
    "avg_public.download": (),
    "avg_public.board": (),
    "avg_public.more_proof": (),
    "avg_jobs.static": (),
    "avg_jobs.status": (),
    "avg_jobs.status_json": (),
    "avg_jobs.download": (),
    "avg_jobs.retry": (),
}

#: Values no id, key or code can be; each replaces one URL argument at a time.
HOSTILE_PATH = [
    "9" * 25,
    str(2**63 - 1),
    str(2**31),
    "-1",
    "\x00",
    "a" * 5000,
    "<script>alert(1)</script>",
    "１２",  # noqa: RUF001 - full-width digits, which int() would accept
]
HOSTILE_QUERY = [
    "9" * 25,
    str(2**63),
    "-1",
    "9999-12-31",
    "0001-01-01",
    "\x00",
    "a" * 5000,
]
ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def _path(rule: Any, args: dict[str, Any], hostile: str | None = None, name: str = "") -> str:
    def value(match: re.Match[str]) -> str:
        arg = match.group(1)
        raw = hostile if arg == name and hostile is not None else str(args[arg])
        return quote(raw, safe="")

    return ARGUMENT.sub(value, rule.rule)


def _call(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    return client.get(path, **kwargs) if method == "GET" else client.post(path, **kwargs)


def test_every_flask_avg_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in avg_rules(app)}
    assert endpoints - set(ROUTES) == set(), "add the new route(s) to ROUTES"
    assert set(ROUTES) - endpoints == set(), "remove the route(s) that are gone"


def test_hostile_url_values_never_give_a_server_error(app):
    users = make_users()
    args = url_args(users)
    client = client_for(app, users["super_user"])
    failures = []
    for rule in avg_rules(app):
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for name in rule.arguments:
            for hostile in HOSTILE_PATH:
                path = _path(rule, args, hostile, name)
                for method in methods:
                    status = _call(client, method, path).status_code
                    if status >= 500:
                        failures.append((method, path[:120], status))
        if "GET" in methods:
            path = _path(rule, args)
            for param in ROUTES[rule.endpoint]:
                for hostile in HOSTILE_QUERY:
                    status = client.get(path, query_string={param: hostile}).status_code
                    if status >= 500:
                        failures.append(("GET", f"{path}?{param}={hostile[:40]!r}", status))
    assert failures == []


#: url -> status: out-of-range ids and pages are a 404; impossible dates are ignored.
EXPECTED = dict(
    [
        ("/avg/members/" + "9" * 25, 404),
        (f"/avg/members/{2**63}", 404),
        (f"/avg/members/{2**63}/export", 404),
        (f"/avg/members/{2**31}", 404),
        ("/avg/members/%00", 404),
        ("/avg/members?page=" + "9" * 22, 404),
        ("/avg/members?page=99", 200),  # past the last page: the last page
        ("/avg/audit?page=" + "9" * 22, 404),
        ("/avg/audit?to=9999-12-31", 200),
        ("/avg/audit?from=0001-01-01&to=9999-12-31", 200),
        (f"/avg/acl/groups/{2**63}", 404),
        (f"/avg/acl/groups/{2**63 - 1}", 404),
        ("/avg/acl/groups/0", 404),
        (f"/avg/breaches/{2**63}", 404),
        (f"/avg/requests/{'9' * 25}", 404),
        ("/avg/consent/purposes/%00/edit", 404),
        ("/avg/consent/purposes/" + "k" * 300 + "/edit", 404),
    ]
)


def test_out_of_range_ids_and_pages_are_a_404(app):
    users = make_users()
    client = client_for(app, users["super_user"])
    got = {url: client.get(url).status_code for url in EXPECTED}
    assert got == EXPECTED


def test_the_url_id_converter_takes_what_an_integer_key_holds(app):
    adapter = app.url_map.bind("club.test")
    assert adapter.match(f"/avg/breaches/{2**31 - 1}")[1] == {"breach_id": 2**31 - 1}
    for bad in (str(2**31), str(2**63), "0", "-1", "１２", "9" * 25):  # noqa: RUF001
        # never the breach page: a routing 404, or flask-avg's catch-all (its 404 page)
        try:
            endpoint = adapter.match(f"/avg/breaches/{quote(bad)}")[0]
        except NotFound:
            continue
        assert endpoint == "avg_core.unknown_url", bad
