"""Finds every translatable string in flask-avg's code and templates."""

from __future__ import annotations

import re

from tests.support import ROOT as REPO

PACKAGE = REPO / "flask_avg"
# _("..."), _l("..."), _avg("..."), gettext("..."), lazy_gettext("..."), also across lines.
CALL = re.compile(
    r"""\b(?:_|_l|_avg|gettext|lazy_gettext)\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+|(?:'(?:[^'\\]|\\.)*'\s*)+)"""
)
PIECE = re.compile(r""""((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'""")


def strings() -> dict[str, str]:
    """msgid -> first place it was found."""
    found: dict[str, str] = {}
    files = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.html"), *PACKAGE.rglob("*.txt")]
    for path in sorted(files):
        if "migrations" in path.parts or path.name == "i18n.py":
            continue
        text = path.read_text(encoding="utf-8")
        for match in CALL.finditer(text):
            msgid = "".join(a or b for a, b in PIECE.findall(match.group(1)))
            msgid = msgid.encode().decode("unicode_escape") if "\\" in msgid else msgid
            found.setdefault(
                msgid, f"{path.relative_to(PACKAGE)}:{text[: match.start()].count(chr(10)) + 1}"
            )
    return found


if __name__ == "__main__":
    for msgid, where in strings().items():
        print(f"{where}\t{msgid}")
