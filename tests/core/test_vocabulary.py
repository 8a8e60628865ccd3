"""Host-neutral words by default, the club's own words when it sets them, only the
retention categories in use, and languages a host adds of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, session
from flask_babel import refresh

from example_app.models import db
from flask_avg.core.config import ConfigurationError
from flask_avg.core.i18n import gettext, lazy_gettext, nouns
from tests.support.app import empty_tables, login, make_app, reset_schema, schema_intact


def _in(app: Flask, lang: str, text: str, **variables: object) -> str:
    with app.test_request_context("/"):
        session["avg_locale"] = lang
        refresh()
        return gettext(text, **variables)


def test_default_words_read_well_for_any_host(app):
    app.config["AVG_NOUNS"] = {}
    assert _in(app, "nl", "nobody outside the %(organisation)s") == "niemand buiten de organisatie"
    assert (
        _in(app, "en", "nobody outside the %(organisation)s") == "nobody outside the organisation"
    )
    assert _in(app, "nl", "Erase this %(subject)s") == "Deze gebruiker wissen"
    assert _in(app, "en", "Erase this %(subject)s") == "Erase this user"
    assert _in(app, "en", "Personal data of %(subject)s %(id)s", id=3) == "Personal data of user 3"
    assert _in(app, "nl", "%(Subjects)s") == "Gebruikers"


def test_the_example_club_keeps_its_own_words(app):
    assert _in(app, "nl", "Erase this %(subject)s") == "Dit lid wissen"
    assert _in(app, "en", "Erase this %(subject)s") == "Erase this member"
    assert _in(app, "nl", "nobody outside the %(organisation)s") == "niemand buiten de vereniging"
    assert (
        _in(app, "en", "Personal data of %(subject)s %(id)s", id=3) == "Personal data of member 3"
    )
    with app.test_request_context("/"):
        session["avg_locale"] = "en"
        refresh()
        # lazy texts (retention categories, form labels) fill them in when shown
        assert str(lazy_gettext("Data of %(subjects)s")) == "Data of members"
        assert nouns("nl")["This_subject"] == "Dit lid"


def test_a_non_club_host_sees_no_club_words_on_the_board_pages(app, client):
    from example_app.demo import seed

    seed(n_members=3)
    app.config["AVG_NOUNS"] = {}
    login(client, "bestuur@example.org")
    register = client.get("/avg/register").get_data(as_text=True)
    assert "elke organisatie" in register and "elke vereniging" not in register
    client.get("/avg/lang/en")
    register = client.get("/avg/register").get_data(as_text=True)
    assert "every organisation" in register and "every club" not in register
    members = client.get("/avg/members").get_data(as_text=True)
    assert '<h1>Users <small class="avg-muted">' in members and "Members" not in members
    dashboard = client.get("/avg/dashboard").get_data(as_text=True)
    assert "notifications to users and the board" in dashboard
    assert "notifications to members" not in dashboard


def test_unused_retention_categories_are_hidden(app, client):
    from example_app.demo import seed

    seed(n_members=3)
    login(client, "bestuur@example.org")
    page = client.get("/avg/retention").get_data(as_text=True)
    # the club keeps members, invoices and sign-ups, but declares no login-account retention
    for used in ("members", "invoices", "signups"):
        assert f'name="days_{used}"' in page
    assert 'name="days_accounts"' not in page and "Inlogaccounts" not in page


def test_unknown_noun_is_refused(db_url):
    with pytest.raises(ConfigurationError, match="AVG_NOUNS\\['en'\\]: unknown word"):
        make_app(db_url, AVG_NOUNS={"en": {"member": "member"}})
    with pytest.raises(ConfigurationError, match="AVG_NOUNS 'klub' is not a known set"):
        make_app(db_url, AVG_NOUNS="klub")


@pytest.fixture
def german(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "flask_avg.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "My data"\nmsgstr "Meine Daten"\n\n'
        'msgid "Erase this %(subject)s"\nmsgstr "%(This_subject)s löschen"\n',
        encoding="utf-8",
    )
    application = make_app(
        db_url,
        AVG_TRANSLATION_DIRS=[str(tmp_path)],
        AVG_LOCALES=("nl", "en", "de"),
        AVG_NOUNS={"de": {"subject": "Mitglied", "this_subject": "dieses Mitglied"}},
    )
    with application.app_context():
        if not schema_intact():
            reset_schema(application)
        yield application
        empty_tables()
        db.session.remove()
        db.engine.dispose()  # no pooled connection left for the garbage collector


def test_a_host_adds_a_language_of_its_own(german):
    from example_app.demo import seed

    seed(n_members=3)
    client = german.test_client()
    login(client, "lid@example.org")
    client.get("/avg/lang/de")
    page = client.get("/avg/me").get_data(as_text=True)
    assert "Meine Daten" in page
    assert _in(german, "de", "Erase this %(subject)s") == "Dieses Mitglied löschen"
    # a text the host did not translate shows in English, never broken
    assert _in(german, "de", "Erase %(subject)s") == "Erase Mitglied"
    # Dutch is untouched
    assert _in(german, "nl", "My data") == "Mijn gegevens"
