"""Blueprints and templates.

Each feature keeps its templates in its own package (``features/<name>/templates/avg/``);
the kernel keeps the layout. One template-only blueprint, ``avg_templates``, finds
them all, whichever pages are mounted (a page may include another feature's
part), after the host's own folder: a host overrides a page by putting a file at
the same path (``templates/avg/me.html``) in its own app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, render_template
from flask_login import logout_user
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

from flask_avg.core.i18n import lazy_gettext as _l

TEMPLATES = str(Path(__file__).parent.parent / "templates")
STATIC = str(Path(__file__).parent.parent / "static")


#: Headers on every response of flask-avg's own pages (the host's pages are left
#: alone). No inline script may run; inline styles stay allowed because flask-avg's
#: pages render inside the host's layout, which may carry them.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # pages and files with personal data must not stay in a shared browser's cache
    "Cache-Control": "no-store",
}


def security_headers(response: Any) -> Any:
    """Add :data:`SECURITY_HEADERS` where the response has not set its own."""
    from flask import request

    static = (request.endpoint or "").endswith(".static")
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and (static or response.headers.get(name)):
            continue
        response.headers.setdefault(name, value)
    return response


#: The longest text a URL part (a key, a code, an id as text) may be.
MAX_URL_VALUE = 255


def refuse_hostile_url_values(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A 404 for a URL part no key can be: control characters (PostgreSQL refuses a
    NUL in any string) or longer than :data:`MAX_URL_VALUE`."""
    from flask import abort

    for value in (values or {}).values():
        if isinstance(value, str) and (
            len(value) > MAX_URL_VALUE or any(ch < "\x20" or "\x7f" <= ch <= "\x9f" for ch in value)
        ):
            abort(404)


def make_blueprint(name: str, import_name: str) -> Blueprint:
    """A feature's pages; their templates come from :func:`templates_blueprint`.
    Every response carries :data:`SECURITY_HEADERS`; URL parts with control characters
    or of absurd length are a 404 before any view sees them."""
    bp = Blueprint(f"avg_{name}", import_name)
    bp.after_request(security_headers)
    bp.url_value_preprocessor(refuse_hostile_url_values)
    return bp


class _TemplatesBlueprint(Blueprint):
    """A blueprint with no routes whose loader searches several folders in order."""

    def __init__(self, folders: list[str]) -> None:
        super().__init__("avg_templates", __name__)
        self._folders = folders

    @property
    def jinja_loader(self) -> BaseLoader | None:  # type: ignore[override]
        return ChoiceLoader([FileSystemLoader(folder) for folder in self._folders])


def templates_blueprint(plugin_folders: list[str]) -> Blueprint:
    """The kernel's layout templates first, then each plugin's folder."""
    return _TemplatesBlueprint([TEMPLATES, *plugin_folders])


#: What a page says when a write was refused because its person has been erased.
ERASED = _l(
    "This person's data has been erased, so nothing more can be stored for them. "
    "Nothing was changed."
)


def subject_erased_page(state: Any, *, own: bool) -> tuple[str, int]:
    """The answer to a write refused with :class:`~flask_avg.core.subjects.SubjectErased`.

    Rolls the request's transaction back and answers 410 Gone. ``own``: the
    member wrote for themselves, so their login went with their data; they are
    logged out here (their user object may no longer load).
    """
    state.db.session.rollback()
    if own:
        logout_user()
    return render_template("avg/subject_erased.html", own=own), 410
