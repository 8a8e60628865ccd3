"""Blueprint factories, one module per feature.

Every blueprint shares flask-avg's template folder, so a host overrides a page
by putting a file at the same path (``templates/avg/me.html``) in its own app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, render_template
from flask_login import logout_user

from flask_avg.core.i18n import lazy_gettext as _l

TEMPLATES = str(Path(__file__).parent.parent / "templates")
STATIC = str(Path(__file__).parent.parent / "static")


def make_blueprint(name: str, import_name: str) -> Blueprint:
    return Blueprint(f"avg_{name}", import_name, template_folder=TEMPLATES)


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
