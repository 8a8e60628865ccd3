"""The one safe-redirect helper: a ``next`` target may only lead back into the site.

Every ``next=`` flask-avg follows (the language switch, the consent review, the
host's login page if it likes) goes through :func:`safe_target`. Checking
``startswith("/")`` is not enough: ``/%09/evil.example`` and ``/\\evil.example``
leave the site in browsers that drop tabs or read backslashes as slashes, and a
CR or LF would split the ``Location`` header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from flask import redirect, url_for

#: a target longer than this is refused rather than echoed into a header
MAX_TARGET = 2000


def _leaves_site(path: str) -> bool:
    if not path.startswith("/") or path.startswith("//"):
        return True
    if "\\" in path or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in path):
        return True
    parts = urlsplit(path)
    return bool(parts.scheme or parts.netloc)


def safe_target(target: Any) -> str | None:
    """``target`` when it is a path on this site, else None.

    Refused: other schemes and hosts, protocol-relative ``//host``, backslashes,
    whitespace and control characters (also percent-encoded), over-long targets.
    """
    if not isinstance(target, str) or not target or len(target) > MAX_TARGET:
        return None
    decoded = target
    for _ in range(3):  # double encoding: %2509 is %09 once decoded
        if _leaves_site(decoded):
            return None
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        return None
    return target


def safe_redirect(target: Any, fallback: str = "avg_core.index", **values: Any) -> Any:
    """Redirect to ``target`` if it is safe, else to the endpoint ``fallback``."""
    return redirect(safe_target(target) or url_for(fallback, **values))
