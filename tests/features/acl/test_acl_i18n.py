"""Every translatable string of the ACL feature has a Dutch translation."""

from __future__ import annotations

from babel.messages.pofile import read_po

from flask_avg.core.i18n import TRANSLATIONS_DIR
from tests.support.i18n_strings import strings

ACL_FILES = (
    "features/acl/service.py",
    "features/acl/admin.py",
    "features/acl/views.py",
    "acl_index.html",
    "acl_group.html",
)


def test_acl_strings_are_translated_to_dutch():
    translated: dict[str, str] = {}
    for path in sorted((TRANSLATIONS_DIR / "nl").glob("*.po")):
        with path.open("rb") as fh:
            translated.update({m.id: m.string for m in read_po(fh) if m.id and m.string})
    ours = {
        msgid: where
        for msgid, where in strings().items()
        if where.split(":")[0].endswith(ACL_FILES)
    }
    assert len(ours) > 50
    missing = {msgid: where for msgid, where in ours.items() if msgid not in translated}
    assert not missing, missing
