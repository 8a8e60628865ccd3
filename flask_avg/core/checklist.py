"""The security checklist: the running configuration held against what AVG asks of it.

``flask avg check --security`` prints it with an exit code for CI, and the board's
dashboard shows the same lines. Each line has a verdict: ``ok``, ``warn`` (worth a
look, not wrong in every setting) or ``fail`` (fix before going live).

The kernel checks the configuration; plugins add lines about what they know
(:meth:`~flask_avg.core.plugins.Plugin.checklist`: the retention plugin's purge
line comes from the purge runs the retention page shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask

from flask_avg.core.i18n import lazy_gettext as _l

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

OK, WARN, FAIL = "ok", "warn", "fail"

#: secret keys copied from tutorials and examples; never safe in production
WEAK_SECRETS = {
    "change-me-in-production",
    "change-me",
    "changeme",
    "dev",
    "development",
    "secret",
    "secret-key",
    "test",
    "testing",
    "super-secret",
}


@dataclass(frozen=True)
class CheckLine:
    key: str
    label: Any
    verdict: str
    advice: Any = ""


def _secret_key(app: Flask) -> CheckLine:
    label = _l("Secret key")
    key = app.secret_key
    text = key.decode(errors="replace") if isinstance(key, bytes) else str(key or "")
    if not text:
        return CheckLine("secret_key", label, FAIL, _l("No SECRET_KEY: sessions cannot be signed."))
    if text.lower() in WEAK_SECRETS or len(set(text)) < 10 or len(text) < 32:
        return CheckLine(
            "secret_key",
            label,
            FAIL,
            _l(
                "SECRET_KEY is short or a known example value: anyone could forge a "
                "session. Use at least 32 random bytes (python -c 'import secrets; "
                "print(secrets.token_hex(32))')."
            ),
        )
    return CheckLine("secret_key", label, OK)


def _cookies(app: Flask) -> CheckLine:
    label = _l("Session cookies")
    missing = [
        name
        for name in ("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "REMEMBER_COOKIE_HTTPONLY")
        if not app.config.get(name, name == "REMEMBER_COOKIE_HTTPONLY")
    ]
    if app.config.get("REMEMBER_COOKIE_SECURE") is False and "SESSION_COOKIE_SECURE" in missing:
        missing.append("REMEMBER_COOKIE_SECURE")
    if missing:
        return CheckLine(
            "cookies",
            label,
            FAIL if "SESSION_COOKIE_HTTPONLY" in missing else WARN,
            _l("Set %(names)s to True (cookies only over HTTPS, not readable by scripts).")
            % {"names": ", ".join(missing)},
        )
    return CheckLine("cookies", label, OK)


def _debug(app: Flask) -> CheckLine:
    label = _l("Debug mode")
    if app.debug:
        return CheckLine(
            "debug",
            label,
            FAIL,
            _l("Debug mode is on: error pages show code and data. Never in production."),
        )
    return CheckLine("debug", label, OK)


def _https(app: Flask) -> CheckLine:
    label = _l("HTTPS")
    behind_proxy = type(app.wsgi_app).__name__ == "ProxyFix"
    if app.config.get("PREFERRED_URL_SCHEME") == "https" or behind_proxy:
        return CheckLine("https", label, OK)
    return CheckLine(
        "https",
        label,
        WARN,
        _l(
            "Nothing says the site runs over HTTPS: set PREFERRED_URL_SCHEME = 'https', "
            "or wrap the app in werkzeug's ProxyFix behind a proxy that terminates HTTPS."
        ),
    )


def _mail(app: Flask, state: AvgState) -> CheckLine:
    label = _l("Mail")
    if state.ext._mail_sender is not None or app.config.get("MAIL_SERVER"):
        return CheckLine("mail", label, OK)
    return CheckLine(
        "mail",
        label,
        WARN,
        _l(
            "No mail is configured: notifications to %(subjects)s and the board go to the log only."
        ),
    )


def _encryption(state: AvgState) -> CheckLine:
    label = _l("Encryption keys")
    encrypted = [
        f"{m.name}.{name}"
        for m in state.registry
        for name, spec in m.columns.items()
        if getattr(spec, "encrypted", False)
    ]
    if not encrypted:
        return CheckLine("encryption", label, OK, _l("No encrypted columns are declared."))
    return CheckLine("encryption", label, OK)


def run(app: Flask, state: AvgState) -> list[CheckLine]:
    """Every line of the checklist for ``app`` as it runs now."""
    return [
        _secret_key(app),
        _cookies(app),
        _debug(app),
        _https(app),
        *state.plugins.checklist(state),
        _mail(app, state),
        _encryption(state),
    ]


def failed(lines: list[CheckLine]) -> bool:
    return any(line.verdict == FAIL for line in lines)
