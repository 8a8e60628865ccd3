"""Dutch by default, English on request, through flask-avg's own Babel domain."""

from __future__ import annotations

from flask_babel import gettext as host_gettext

from flask_avg.core.i18n import load_catalogue
from tests.support.app import login
from tests.support.i18n_strings import strings


def test_every_string_has_a_dutch_translation():
    catalogue = load_catalogue("nl")
    missing = {
        msgid: where
        for msgid, where in strings().items()
        if msgid not in catalogue._catalog  # noqa: SLF001 - babel keeps no public lookup
    }
    assert not missing, "untranslated (add to flask_avg/translations/nl/*.po):\n" + "\n".join(
        f"{where}: {msgid}" for msgid, where in missing.items()
    )


def test_every_translation_is_still_used():
    # a text changed in the code leaves its old translation behind: the catalogue keeps
    # only what the code asks for (flask-avg has no plural forms; ngettext would need
    # tests/support/i18n_strings.py to learn them)
    catalogue = load_catalogue("nl")
    used = strings()
    stale = sorted(m for m in catalogue._catalog if m and m not in used)  # noqa: SLF001
    assert not stale, "no longer used (remove from flask_avg/translations/nl/*.po):\n" + (
        "\n".join(stale)
    )


def test_pages_are_dutch_by_default_and_english_on_request(app, client):
    from example_app.demo import seed

    seed(n_members=5)
    login(client, "lid@example.org")
    page = client.get("/avg/me").get_data(as_text=True)
    assert "Mijn gegevens" in page and "Wat we bewaren en waarom" in page
    client.get("/avg/lang/en")
    page = client.get("/avg/me").get_data(as_text=True)
    assert "My data" in page and "What we keep and why" in page
    client.get("/avg/lang/xx")  # unknown language: ignored
    assert "My data" in client.get("/avg/me").get_data(as_text=True)


def test_language_switch_never_redirects_off_site(app, client):
    response = client.get("/avg/lang/nl?next=https://evil.example/")
    assert response.status_code == 302
    assert response.location.endswith("/avg/")
    response = client.get("/avg/lang/nl?next=//evil.example/")
    assert response.location.endswith("/avg/")


def test_host_catalogue_is_untouched(app):
    with app.test_request_context("/"):
        # The host's own domain does not know flask-avg's Dutch strings.
        assert host_gettext("My data") == "My data"


def test_host_texts_follow_the_page_language(app):
    from decimal import Decimal

    from flask import session
    from flask_babel import refresh

    from flask_avg.core.i18n import localise
    from flask_avg.core.jinja import format_value

    text = {"nl": "Telefoon", "en": "Phone"}
    with app.test_request_context("/"):
        assert localise(text) == "Telefoon"
        assert format_value(Decimal("85.00")) == "85,00"
        assert format_value(True) == "ja"
        assert format_value(None) == "–"
    with app.test_request_context("/"):
        session["avg_locale"] = "en"
        refresh()  # the fixture's app context outlives this request; drop Babel's cache
        assert localise(text) == "Phone"
        assert format_value(Decimal("1234.5")) == "1,234.5"
    assert localise("plain") == "plain"
