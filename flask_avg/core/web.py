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

from flask import Blueprint, current_app, make_response, render_template, request
from flask_login import logout_user
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader
from markupsafe import escape
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

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


#: flask-avg's error pages: the title and the sentence under it, per status code.
ERROR_PAGES: dict[int, tuple[Any, Any]] = {
    400: (
        _l("This did not work"),
        _l("What was sent could not be understood. Go back, reload the page and try again."),
    ),
    403: (
        _l("No access"),
        _l("You do not have permission for this page. Ask the board if you think you should."),
    ),
    404: (
        _l("Page not found"),
        _l("This page does not exist (any more). Check the address, or start again from the menu."),
    ),
    405: (
        _l("This did not work"),
        _l("This page cannot be used this way. Go back and use the page's own buttons."),
    ),
    413: (
        _l("Too large"),
        _l("What was sent is larger than this page accepts."),
    ),
    429: (
        _l("Too many attempts"),
        _l("Please wait a moment and try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l(
            "The page could not be shown because of an error on our side. Try again later; "
            "if it keeps happening, tell the board."
        ),
    ),
}


def error_page(error: HTTPException) -> Any:
    """An error of a flask-avg page as a page inside the layout, with its status code
    and headers (``Allow``, ``Retry-After``...). The host's own pages keep the host's
    error handling: this handler is registered on flask-avg's blueprints only."""
    code = error.code or 500
    title, text = ERROR_PAGES.get(code, ERROR_PAGES[500])
    try:
        if code >= 500:
            from flask_avg.extension import get_state

            get_state().db.session.rollback()
        body = render_template("avg/error.html", code=code, title=title, text=text)
    except Exception:
        if code < 500:
            raise
        # the layout itself failed (a database gone, say): a plain page still says what happened
        current_app.logger.exception("flask-avg: the error page could not be rendered")
        body = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(text)}</p>"
    response = make_response(body, code)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


#: Methods the catch-all of unknown flask-avg URLs answers (with a 404, or a 405
#: when another rule has the path).
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def unknown_url(path: str) -> Any:
    """Any URL under flask-avg's prefix no page has: a 404 inside the layout; a 405
    when the path is a page that takes other methods."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in _METHODS:
        try:
            endpoint, _args = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.add(method)
    if allowed:
        if "GET" in allowed:
            allowed.add("HEAD")
        raise MethodNotAllowed(valid_methods=sorted(allowed | {"OPTIONS"}))
    raise NotFound()


def catch_unknown_urls(bp: Blueprint) -> None:
    """Route every unknown URL under flask-avg's prefix to :func:`unknown_url`, so
    it answers with flask-avg's error page. Not when flask-avg is mounted at the
    site's root: the host's URLs (and their 404s) are the host's."""

    def register(setup: Any) -> None:
        if (setup.url_prefix or "").strip("/"):
            setup.add_url_rule(
                "/<path:path>", endpoint="unknown_url", view_func=unknown_url, methods=_METHODS
            )

    bp.record_once(register)


def make_blueprint(name: str, import_name: str) -> Blueprint:
    """A feature's pages; their templates come from :func:`templates_blueprint`.
    Every response carries :data:`SECURITY_HEADERS`; URL parts with control characters
    or of absurd length are a 404 before any view sees them; errors (403, 404, 500...)
    are pages inside the layout (:func:`error_page`)."""
    bp = Blueprint(f"avg_{name}", import_name)
    bp.after_request(security_headers)
    bp.url_value_preprocessor(refuse_hostile_url_values)
    for code in ERROR_PAGES:
        bp.register_error_handler(code, error_page)
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
