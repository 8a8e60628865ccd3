"""Every ``AVG_*`` configuration key, its default and one strict reader.

Defaults live here and nowhere else; :func:`apply_defaults` copies them into
``app.config`` with ``setdefault`` and rejects keys that look like ours but
are not, so a typo such as ``AVG_RETENTON_DAYS`` fails at start-up instead of
being silently ignored.
"""

from __future__ import annotations

import difflib
from typing import Any

from flask import Flask, current_app

PREFIX = "AVG_"

#: key -> (default, one-line description). The docs' configuration reference is
#: checked against this table by the test suite.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "URL_PREFIX": ("/avg", "URL prefix under which every flask-avg page is mounted."),
    "BLUEPRINTS": (
        (
            "core",
            "self_service",
            "admin",
            "acl",
            "retention",
            "export",
            "accountability",
            "guardians",
            "jobs",
        ),
        "Which flask-avg blueprints to register; leave one out to mount your own instead.",
    ),
    "BASE_TEMPLATE": (
        "avg/base.html",
        "Template every flask-avg page extends; set it to your site's layout "
        "(it must define the blocks ``title`` and ``content``).",
    ),
    "DEFAULT_LOCALE": ("nl", "Language of the pages when the visitor has not chosen one."),
    "LOCALES": (("nl", "en"), "Languages a visitor can choose."),
    "NOUNS": (
        {},
        "Words for the people whose data is kept and for the organisation, per language: "
        '``{"en": {"subject": "member", "subjects": "members", "organisation": "club"}, '
        '"nl": {"subject": "lid", "subjects": "leden", "organisation": "vereniging"}}``. '
        "Missing words read user/users/organisation (gebruiker/gebruikers/organisatie); "
        '``the_subject`` and ``this_subject`` (``"het lid"``, ``"dit lid"``) default to '
        'the/this (de/deze) and the subject. ``"club"`` chooses member/club, lid/vereniging.',
    ),
    "TRANSLATION_DIRS": (
        (),
        "Directories with translations of flask-avg's texts of your own, as "
        "``<dir>/<language>/*.po``: a language flask-avg lacks (add it to ``AVG_LOCALES``) "
        "or your own wording; merged over flask-avg's.",
    ),
    "CLUB_NAME": ("", "Name of the club (the controller), shown on pages and in exports."),
    "CLUB_CONTACT": ("", "Contact address for privacy questions, shown to members."),
    "LOGIN_VIEW": (
        None,
        "Endpoint to send anonymous visitors to; defaults to Flask-Login's ``login_view``.",
    ),
    "AUDIT_IP": (False, "Store the client IP address in audit entries (it is personal data)."),
    "AUDIT_RETENTION_DAYS": (
        730,
        "Days audit entries are kept before ``flask avg purge`` drops them.",
    ),
    "REQUEST_DEADLINE_DAYS": (30, "Days a data-subject request may take (Art. 12(3): one month)."),
    "REQUEST_EXTENSION_DAYS": (
        60,
        "Days the board may add to a request's deadline, once, telling the member why "
        "(Art. 12(3): two more months where the request is complex or there are many).",
    ),
    "OBJECTION_PURPOSES": (
        (),
        "Purposes members may object to besides those based on public task or legitimate "
        'interest (Art. 21; e.g. direct marketing: ``"newsletter"``).',
    ),
    "CSV_DELIMITER": (
        None,
        'Separator of every CSV file flask-avg writes, ``";"`` or ``","``; by default '
        'the page\'s language decides (``";"`` for Dutch, ``","`` for English).',
    ),
    "EXPORT_EXPIRES_HOURS": (72, "Hours an export link stays valid."),
    "PURGE_BATCH_SIZE": (
        5000,
        "Rows in the retention purge's first transaction; later ones are sized to "
        "``AVG_PURGE_BATCH_SECONDS`` (with that at 0, every transaction holds this many).",
    ),
    "PURGE_BATCH_SECONDS": (
        1.0,
        "Target duration of one purge transaction: the batch size adapts to the measured "
        "time of the previous batches, so no batch holds its locks much longer (0 = off).",
    ),
    "PURGE_SCHEDULE": (
        "03:00",
        'Time(s) of day your cron runs ``flask avg purge`` (``"03:00"`` or ``"03:00,15:00"``, '
        "the server's local time): the retention page shows the next run from it.",
    ),
    "ERASE_LOCK_WAIT": (
        5.0,
        "Seconds erasing one member waits for a running retention purge to finish.",
    ),
    "CONSENT_RECORD_IP": (False, "Store the IP address with a consent record."),
    "STALE_ACCOUNT_DAYS": (0, "Remove login accounts unused this many days (0 = off)."),
    "DEFAULT_GROUPS": (
        True,
        "Create the default ACL groups (Public ... Administrator) at init-db.",
    ),
    "MAIL_SERVER": (
        None,
        "SMTP server for notifications; unset: the host's ``MAIL_SERVER`` (Flask-Mail, "
        "Flask-Mailman), and with neither the mails go to the app's log.",
    ),
    "MAIL_PORT": (None, "SMTP port; unset: ``MAIL_PORT``, else 25 (465 with SSL)."),
    "MAIL_USE_TLS": (None, "Use STARTTLS; unset: ``MAIL_USE_TLS``."),
    "MAIL_USE_SSL": (None, "Connect with SSL/TLS from the start; unset: ``MAIL_USE_SSL``."),
    "MAIL_USERNAME": (None, "SMTP login; unset: ``MAIL_USERNAME`` (none: no login)."),
    "MAIL_PASSWORD": (None, "SMTP password; unset: ``MAIL_PASSWORD``."),
    "MAIL_DEFAULT_SENDER": (
        None,
        "From address of notifications; unset: ``MAIL_DEFAULT_SENDER``.",
    ),
    "MAIL_TIMEOUT": (10.0, "Seconds to wait for the SMTP server before a mail counts as failed."),
    "BOARD_EMAIL": (
        None,
        "Address (or list of addresses) that gets the board's notifications; unset: every "
        "user in a group allowed to handle requests (``avg.requests.handle``) or, for "
        "breaches, to manage them (``avg.breaches.manage``).",
    ),
    "AGE_OF_CONSENT": (
        16,
        "Age from which members give or withdraw consent themselves (Art. 8 GDPR, UAVG art. 5: "
        "16 in the Netherlands); below it a guardian does. Needs a declared birth date "
        "(``ModelPolicy(birth_date=...)``).",
    ),
    "GUARDIAN_UNTIL_AGE": (
        16,
        "Age at which a guardian's access to a child's data ends (``flask avg guardians`` "
        "ends the links daily); ``None``: the board unlinks by hand.",
    ),
    "GUARDIAN_INVITE_HOURS": (72, "Hours a guardian's e-mail invitation link stays valid."),
    "PUBLIC_VERIFY_HOURS": (
        24,
        "Hours the verification link of a request from the public page stays valid.",
    ),
    "PUBLIC_REQUEST_LIMIT": (
        3,
        "Requests the public page accepts per e-mail address in 24 hours.",
    ),
    "PUBLIC_CLIENT_LIMIT": (
        20,
        "Requests the public page accepts per client (IP address, kept as a keyed hash) "
        "in 24 hours.",
    ),
    "PUBLIC_EXPORT_DIR": (
        None,
        "Folder where access exports for people without an account wait for their single "
        "download; unset: ``avg-exports`` in the app's instance folder. Never a static folder.",
    ),
    "ENCRYPTION_KEYS": (
        None,
        'Keys of the encrypted columns as ``"k2:<base64>,k1:<base64>"`` (32-byte keys): '
        "the first encrypts, all decrypt. Unset: the environment variable of the same name.",
    ),
    "ENCRYPTION_ROW_BOUND": (
        False,
        "True: refuse encrypted values not bound to their row (format v1, or a Core write); "
        "set it once ``flask avg rotate-keys`` reports nothing left.",
    ),
    "ROLE_GROUPS": (
        {},
        "The host's own role names mapped to flask-avg group keys "
        '(``{"board": "board"}``): a user with the role is in the group.',
    ),
    "SUBJECT_LABEL": (
        None,
        "Columns of the subject model that name a person on the board's pages, "
        '``{"name": ("first_name", "last_name"), "number": "member_number"}``; unset: '
        "the columns named like a name (``first_name``, ``last_name``, ``name`` ...) "
        "and like a number (``member_number``, ``number`` ...).",
    ),
    "JOB_QUEUE": (
        None,
        "Where background jobs run: a Redis URL (``rq://127.0.0.1:6379/0``) for RQ, "
        "with a worker started by ``flask avg jobs worker``; empty: in a thread of the "
        "web process, inline in the CLI.",
    ),
    "JOB_RESULT_HOURS": (48, "Hours a job's result file is kept before it is removed."),
    "JOB_DIR": (
        None,
        "Folder of the jobs' private result files; by default ``avg-jobs`` in the app's "
        "instance folder. Never a static folder.",
    ),
    "JOB_STALE_SECONDS": (
        300,
        "Seconds without a heartbeat after which a running job counts as failed "
        "(its worker died); it can then be retried.",
    ),
    "EXPORT_JOB_ROWS": (
        5000,
        "Member lists with more members than this are exported as a background job, "
        "with a progress bar and a download link, instead of within the request.",
    ),
}


class ConfigurationError(RuntimeError):
    """A flask-avg configuration or declaration mistake, found at ``init_app``."""


def apply_defaults(app: Flask) -> None:
    """Fill in missing ``AVG_*`` keys and reject unknown ones."""
    for key, (default, _doc) in DEFAULTS.items():
        app.config.setdefault(PREFIX + key, default)
    unknown = [k for k in app.config if k.startswith(PREFIX) and k[len(PREFIX) :] not in DEFAULTS]
    if unknown:
        hints = []
        for key in sorted(unknown):
            close = difflib.get_close_matches(key[len(PREFIX) :], DEFAULTS, n=1)
            hints.append(f"{key}" + (f" (did you mean {PREFIX}{close[0]}?)" if close else ""))
        raise ConfigurationError("Unknown flask-avg configuration key(s): " + ", ".join(hints))
    nouns = app.config[PREFIX + "NOUNS"]
    if isinstance(nouns, str):
        from flask_avg.core.i18n import NOUN_PRESETS

        if nouns not in NOUN_PRESETS:
            raise ConfigurationError(
                f"AVG_NOUNS {nouns!r} is not a known set of words "
                f"(known: {', '.join(sorted(NOUN_PRESETS))}); or give a dict per language"
            )
        nouns = {}
    for lang, words in (nouns or {}).items():
        known = ("subject", "subjects", "organisation", "the_subject", "this_subject")
        wrong = set(words) - set(known)
        if wrong:
            raise ConfigurationError(
                f"AVG_NOUNS[{lang!r}]: unknown word(s) {', '.join(sorted(wrong))} "
                f"(known: {', '.join(known)})"
            )

    delimiter = app.config[PREFIX + "CSV_DELIMITER"]
    if delimiter not in (None, ",", ";"):
        raise ConfigurationError(
            f'AVG_CSV_DELIMITER must be ";" or "," (or None), not {delimiter!r}'
        )
    locales = app.config[PREFIX + "LOCALES"]
    if app.config[PREFIX + "DEFAULT_LOCALE"] not in locales:
        raise ConfigurationError(
            f"AVG_DEFAULT_LOCALE {app.config[PREFIX + 'DEFAULT_LOCALE']!r} is not in AVG_LOCALES"
        )


def config_value(key: str, app: Flask | None = None) -> Any:
    """Read ``AVG_<key>``; an unknown key is a programming error."""
    if key not in DEFAULTS:
        raise KeyError(f"flask-avg has no configuration key AVG_{key}")
    return (app or current_app).config[PREFIX + key]
