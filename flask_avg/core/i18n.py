"""Translations through a Flask-Babel domain of flask-avg's own.

Messages are written in English in the code; Dutch lives in
``translations/nl/*.po``, one file per feature so features can be added
without touching each other's catalogue. The ``.po`` files are read and
merged once per process, so no compile step is needed and the host's own
``messages`` catalogue is never touched.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import current_app, has_app_context, has_request_context
from flask_babel import Domain, get_locale

TRANSLATIONS_DIR = Path(__file__).parent.parent / "translations"

_cache: dict[str, NullTranslations] = {}
_lock = threading.Lock()


def load_catalogue(locale: str) -> NullTranslations:
    """All ``.po`` files of one locale, merged into one translations object."""
    with _lock:
        if locale not in _cache:
            _cache[locale] = _build(locale)
        return _cache[locale]


def _build(locale: str) -> NullTranslations:
    files = sorted((TRANSLATIONS_DIR / locale).glob("*.po"))
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


class AvgDomain(Domain):
    """A Flask-Babel domain reading flask-avg's own catalogue."""

    def __init__(self) -> None:
        super().__init__(translation_directories=[str(TRANSLATIONS_DIR)], domain="flask_avg")

    def get_translations(self) -> Any:
        locale = get_locale()
        if locale is None:
            return NullTranslations()
        return load_catalogue(str(locale.language))


def localise(value: Any) -> Any:
    """A host-supplied text in the page's language.

    Labels, purposes and recipients may be plain strings, lazy strings from the
    host's own catalogue, or ``{"nl": "Telefoon", "en": "Phone"}`` for hosts
    that keep no catalogue of their own.
    """
    if not isinstance(value, dict):
        return value
    locale = get_locale() if has_request_context() else None
    if locale is not None:
        language = locale.language
    elif has_app_context():
        language = current_app.config.get("AVG_DEFAULT_LOCALE")
    else:
        language = None
    if language in value:
        return value[language]
    return next(iter(value.values()), "")


domain = AvgDomain()
gettext = domain.gettext
ngettext = domain.ngettext
lazy_gettext = domain.lazy_gettext
_ = gettext
