"""Blueprint factories, one module per feature.

Every blueprint shares flask-avg's template folder, so a host overrides a page
by putting a file at the same path (``templates/avg/me.html``) in its own app.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

TEMPLATES = str(Path(__file__).parent.parent / "templates")
STATIC = str(Path(__file__).parent.parent / "static")


def make_blueprint(name: str, import_name: str) -> Blueprint:
    return Blueprint(f"avg_{name}", import_name, template_folder=TEMPLATES)
