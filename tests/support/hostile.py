"""Helpers for the hostile-input suite: every route, every form, what the database holds.

Forms are found the way a visitor finds them: by opening every GET page of
flask-avg and reading its ``<form method="post">`` elements. Each form is
identified by the endpoint its action resolves to, so the suite's tables can
insist that every form is covered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask

from example_app.models import db
from tests.support.app import club_tables

#: Characters a form must never store: C0 (except the line break and tab of a
#: multi-line text), DEL and C1.
FORBIDDEN = {chr(c) for c in range(0x20)} - {"\t", "\n", "\r"} | {chr(c) for c in range(0x7F, 0xA0)}
#: Control characters for single-line fields: every C0 and C1, line breaks and tab too.
CONTROL_PAYLOADS = [
    "a\x00b",
    "look\x1b[31mred",
    "tab\tbed",
    "two\nlines",
    "cr\rhere",
    "del\x7f",
    "next\x85line",
    "csi\x9b",
    "bell\x07",
    "m1\x00@example.org",
]


@dataclass
class Form:
    """One ``<form method="post">`` as a browser sees it."""

    page: str
    action: str
    fields: list[dict[str, Any]] = field(default_factory=list)
    endpoint: str = ""

    def text_fields(self) -> list[dict[str, Any]]:
        return [
            f
            for f in self.fields
            if f["tag"] == "textarea"
            or (
                f["tag"] == "input"
                and f["type"]
                in (
                    "text",
                    "email",
                    "search",
                    "tel",
                    "url",
                    "hidden",
                    "number",
                    "date",
                    "datetime-local",
                )
                and f["name"] != "csrf_token"
            )
        ]

    def data(self, fill: Any = None) -> dict[str, Any]:
        """The form as submitted, ``fill(field)`` giving each text field's value (None: as is)."""
        out: dict[str, list[str]] = {}
        for f in self.fields:
            name = f["name"]
            if not name:
                continue
            value: Any
            if f["tag"] == "select":
                options = f["options"]
                value = fill(f) if fill is not None else None
                if value is None:
                    value = options[-1] if options else ""
            elif f["tag"] == "input" and f["type"] in ("checkbox", "radio"):
                if f["type"] == "radio" and name in out:
                    continue
                value = f["value"] or "y"
            elif f["tag"] == "input" and f["type"] in ("submit", "button", "image", "file"):
                continue
            else:
                value = fill(f) if fill is not None and f in self.text_fields() else None
                if value is None:
                    value = f["value"]
            out.setdefault(name, []).append(value)
        return {k: v if len(v) > 1 else v[0] for k, v in out.items()}


class _FormParser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: dict[str, Any] | None = None
        self._textarea: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._form = Form(self.page, a.get("action") or self.page)
        elif self._form is None:
            return
        elif tag == "input":
            self._form.fields.append(
                {
                    "tag": "input",
                    "name": a.get("name", ""),
                    "type": a.get("type", "text").lower(),
                    "value": a.get("value", ""),
                }
            )
        elif tag == "textarea":
            self._textarea = {"tag": "textarea", "name": a.get("name", ""), "value": ""}
            self._form.fields.append(self._textarea)
        elif tag == "select":
            self._select = {"tag": "select", "name": a.get("name", ""), "options": []}
            self._form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea["value"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(page: str, html: str) -> list[Form]:
    parser = _FormParser(page)
    parser.feed(html)
    return parser.forms


def avg_rules(app: Flask) -> list[Any]:
    """flask-avg's URL rules (its blueprints are named ``avg_*``)."""
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("avg_")]


def endpoint_of(app: Flask, path: str, method: str = "POST") -> str:
    adapter = app.url_map.bind("club.test")
    endpoint, _args = adapter.match(urlsplit(path).path, method=method)
    return endpoint


def discover_forms(app: Flask, client: Any, args: dict[str, Any]) -> list[Form]:
    """Every flask-avg form on every flask-avg GET page (built with ``args``), one per
    (endpoint, field names)."""
    from flask import url_for

    found: dict[tuple[str, tuple[str, ...]], Form] = {}
    with app.test_request_context():
        pages = [
            url_for(r.endpoint, **{k: args[k] for k in r.arguments})
            for r in avg_rules(app)
            if "GET" in (r.methods or ()) and not r.endpoint.endswith("static")
        ]
    for page in sorted(set(pages)):
        response = client.get(page)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for form in forms_on(page, response.get_data(as_text=True)):
            if not urlsplit(form.action).path.startswith("/avg"):
                continue  # the host's own forms (log out)
            form.endpoint = endpoint_of(app, form.action)
            key = (form.endpoint, tuple(sorted(f["name"] for f in form.fields)))
            found.setdefault(key, form)
    return list(found.values())


def text_columns() -> list[tuple[sa.Table, sa.Column[Any]]]:
    return [
        (table, column)
        for table in club_tables()
        for column in table.columns
        if isinstance(column.type, sa.String)
    ]


def stored_control_characters() -> list[tuple[str, str, str]]:
    """(table, column, value) of every stored text holding a forbidden control character."""
    db.session.rollback()
    bad = []
    for table, column in text_columns():
        for value in db.session.scalars(sa.select(column).where(column.is_not(None))):
            if isinstance(value, str) and any(ch in FORBIDDEN for ch in value):
                bad.append((table.name, column.name, value))
    db.session.rollback()
    return bad


#: Audit actions that record a read (a page showing personal data), not a change.
READS = (".view", ".list")


def snapshot() -> dict[str, str]:
    """table -> digest of all its rows: compared before and after a refused post.

    Audit entries that record a read (``members.view``, ``consent.view``, ...) or a
    refusal (outcome ``denied``) are left out: showing the form again with its errors
    shows the member's data again, and a refused attempt is logged by design.
    """
    from flask_avg.core.models import AuditEntry

    db.session.rollback()
    out = {}
    for table in club_tables():
        stmt = sa.select(table)
        if table is AuditEntry.__table__:  # reads and refusals are recorded on purpose
            stmt = stmt.where(
                sa.or_(table.c.outcome.is_(None), table.c.outcome != "denied"),
                *(sa.not_(table.c.action.endswith(suffix)) for suffix in READS),
            )
        rows = db.session.execute(stmt).all()
        text = "\n".join(sorted(repr(tuple(row)) for row in rows))
        out[table.name] = hashlib.sha256(text.encode()).hexdigest()
    db.session.rollback()
    return out


def url_args(users: Any) -> dict[str, Any]:
    """A valid value for every URL argument any flask-avg route takes: a member that is
    not the logged-in super user, a board purpose, a breach, an open request."""
    from datetime import UTC, datetime

    from example_app.models import Member
    from flask_avg.extension import get_state
    from flask_avg.features.breaches.models import Breach
    from flask_avg.features.consent.models import ConsentPurposeRow
    from flask_avg.features.requests import engine
    from tests.support.acl import group

    member = db.session.scalars(sa.select(Member).where(Member.user_id == users["member"].id)).one()
    if db.session.get(ConsentPurposeRow, "photos") is None:
        db.session.add(
            ConsentPurposeRow(key="photos", label="Foto's", text="Foto's op de site", version="1")
        )
    now = datetime.now(UTC)
    breach = Breach(title="Lost laptop", discovered_at=now, started_at=now)
    db.session.add(breach)
    db.session.commit()
    request = engine.file_request(
        get_state(), member.id, "restriction", user_id=str(member.user_id)
    )
    db.session.commit()
    return {
        "filename": "avg.css",
        "path": "no/such/page",
        "code": "en",
        "subject_id": member.id,
        "group_id": group("board").id,
        "user_id": str(users["board"].id),
        "key": "photos",
        "breach_id": breach.id,
        "request_id": request.id,
        "token": "not-a-token",
        "link_id": 1,
        "job_id": _a_job(users),
        "run_id": 1,
    }


def _a_job(users: Any) -> str:
    """A finished member-list export of the super user's (its result file long gone)."""
    from flask_avg.core.identity import user_key
    from flask_avg.extension import get_state

    job = get_state().jobs.create(
        "export.members", owner=user_key(users["super_user"]), params={"format": "csv"}
    )
    job.status = "done"
    db.session.commit()
    return job.id
