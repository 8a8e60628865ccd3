"""Translations through a Flask-Babel domain of flask-avg's own.

Messages are written in English in the code; Dutch lives in
``translations/nl/*.po``, one file per feature so features can be added
without touching each other's catalogue. The ``.po`` files are read and
merged once per process, so no compile step is needed and the host's own
``messages`` catalogue is never touched. A host adds a language (or rewords
ours) with ``.po`` files of its own under ``AVG_TRANSLATION_DIRS``
(``<dir>/<language>/*.po``), merged over flask-avg's.

Texts that name the people whose data is kept or the organisation keeping it
say ``%(subject)s``, ``%(subjects)s`` or ``%(organisation)s`` (capitalised:
``%(Subject)s``...); the words come from ``AVG_NOUNS`` per language, with
host-neutral defaults (user, organisation), so a club reads "member" and
"club" and a web shop "customer" and "shop".
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import current_app, has_app_context, has_request_context
from flask_babel import Domain, get_locale

TRANSLATIONS_DIR = Path(__file__).parent.parent / "translations"

#: The words a text may use for the people and the organisation, per language.
#: ``the_subject`` and ``this_subject`` carry the article, which in Dutch depends
#: on the noun (*de* gebruiker, *het* lid).
DEFAULT_NOUNS: dict[str, dict[str, str]] = {
    "en": {"subject": "user", "subjects": "users", "organisation": "organisation"},
    "nl": {"subject": "gebruiker", "subjects": "gebruikers", "organisation": "organisatie"},
}
#: Ready-made words, chosen with ``AVG_NOUNS = "club"``: clubs and associations
#: are who flask-avg is made for first.
NOUN_PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "club": {
        "en": {"subject": "member", "subjects": "members", "organisation": "club"},
        "nl": {
            "subject": "lid",
            "subjects": "leden",
            "organisation": "vereniging",
            "the_subject": "het lid",
            "this_subject": "dit lid",
        },
    },
}
#: The article forms made from ``subject`` when a language's nouns do not give them.
ARTICLES: dict[str, tuple[str, str]] = {"en": ("the", "this"), "nl": ("de", "deze")}
NOUN_KEYS = ("subject", "subjects", "organisation", "the_subject", "this_subject")
_NOUN_RE = re.compile(r"%\((?:subjects?|organisation|the_subject|this_subject)\)s", re.I)

_cache: dict[tuple[str, tuple[str, ...]], NullTranslations] = {}
_lock = threading.Lock()


def host_dirs() -> tuple[str, ...]:
    """The host's own translation directories (``AVG_TRANSLATION_DIRS``)."""
    if not has_app_context():
        return ()
    return tuple(str(d) for d in current_app.config.get("AVG_TRANSLATION_DIRS") or ())


def load_catalogue(locale: str, extra: tuple[str, ...] = ()) -> NullTranslations:
    """All ``.po`` files of one locale, flask-avg's then those under ``extra``, merged
    into one translations object (later files win)."""
    key = (locale, tuple(extra))
    with _lock:
        if key not in _cache:
            _cache[key] = _build(locale, key[1])
        return _cache[key]


def _build(locale: str, extra: tuple[str, ...] = ()) -> NullTranslations:
    files = [
        p for d in (TRANSLATIONS_DIR, *map(Path, extra)) for p in sorted((d / locale).glob("*.po"))
    ]
    if not files:
        return NullTranslations()
    merged: Translations | None = None
    for path in files:
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buf = io.BytesIO()
        write_mo(buf, catalog, use_fuzzy=False)
        buf.seek(0)
        part = Translations(buf, domain="flask_avg")
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    assert merged is not None
    return merged


def language() -> str | None:
    """The page's language; outside a request the default one."""
    locale = get_locale() if has_request_context() else None
    if locale is not None:
        return str(locale.language)
    if has_app_context():
        return str(current_app.config.get("AVG_DEFAULT_LOCALE"))
    return None


def nouns(lang: str | None = None) -> dict[str, str]:
    """The words of :data:`NOUN_KEYS` (and capitalised: ``Subject``, ``This_subject``...)
    in ``lang`` (the page's language): ``AVG_NOUNS`` over the defaults."""
    lang = lang or language() or "en"
    words = dict(DEFAULT_NOUNS.get(lang, DEFAULT_NOUNS["en"]))
    if has_app_context():
        chosen = current_app.config.get("AVG_NOUNS") or {}
        if isinstance(chosen, str):
            chosen = NOUN_PRESETS.get(chosen, {})
        words.update(chosen.get(lang, {}))
    the, this = ARTICLES.get(lang, ("", ""))
    words.setdefault("the_subject", f"{the} {words['subject']}".strip())
    words.setdefault("this_subject", f"{this} {words['subject']}".strip())
    words.update({k.capitalize(): v[:1].upper() + v[1:] for k, v in list(words.items())})
    return words


def with_nouns(text: str, variables: dict[str, Any]) -> dict[str, Any]:
    if not _NOUN_RE.search(text):
        return variables
    return {**nouns(), **variables}


class AvgDomain(Domain):
    """A Flask-Babel domain reading flask-avg's own catalogue (and the host's additions),
    filling in the configured nouns."""

    def __init__(self) -> None:
        super().__init__(translation_directories=[str(TRANSLATIONS_DIR)], domain="flask_avg")

    def get_translations(self) -> Any:
        locale = get_locale()
        if locale is None:
            return NullTranslations()
        return load_catalogue(str(locale.language), host_dirs())

    def gettext(self, string: str, **variables: Any) -> str:
        return str(super().gettext(string, **with_nouns(string, variables)))

    def ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> str:
        found = with_nouns(singular + plural, variables)
        return str(super().ngettext(singular, plural, num, **found))


def localise(value: Any) -> Any:
    """A host-supplied text in the page's language.

    Labels, purposes and recipients may be plain strings, lazy strings from the
    host's own catalogue, or ``{"nl": "Telefoon", "en": "Phone"}`` for hosts
    that keep no catalogue of their own.
    """
    if not isinstance(value, dict):
        return value
    lang = language()
    if lang in value:
        return value[lang]
    return next(iter(value.values()), "")


domain = AvgDomain()
gettext = domain.gettext
ngettext = domain.ngettext
lazy_gettext = domain.lazy_gettext
_ = gettext
