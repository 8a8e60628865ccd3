"""Retention categories: how long each kind of record is kept after its anchor date.

The defaults follow MMS (seed 001): data is kept 3650 days (10 years) after the
anchor unless the board sets less; 365 to 730 days is the advice for a club.
Invoices carry the Dutch fiscal retention duty (fiscale bewaarplicht, art. 52
AWR): seven years, a floor no setting or erasure request may undercut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_avg.core.i18n import lazy_gettext as _l

SEVEN_YEARS = 7 * 365 + 2  # two leap days in any seven-year span, at most


@dataclass(frozen=True)
class RetentionCategory:
    key: str
    label: Any
    anchor_label: Any
    default_days: int = 3650
    floor_days: int = 0
    floor_reason: Any = None
    advice: Any = None


RETENTION_CATEGORIES: dict[str, RetentionCategory] = {
    c.key: c
    for c in (
        RetentionCategory(
            "members",
            _l("Data of %(subjects)s"),
            _l("end of membership"),
            advice=_l("1 to 2 years (365 to 730 days) is a safe setting."),
        ),
        RetentionCategory(
            "invoices",
            _l("Invoices"),
            _l("invoice date"),
            floor_days=SEVEN_YEARS,
            floor_reason=_l(
                "Dutch tax law requires financial records to be kept for seven years "
                "(fiscale bewaarplicht)."
            ),
        ),
        RetentionCategory(
            "signups",
            _l("Sign-ups"),
            _l("sign-up date"),
            advice=_l("Sign-ups that did not lead to a membership need not be kept long."),
        ),
        RetentionCategory(
            "accounts",
            _l("Login accounts"),
            _l("last login"),
            advice=_l("Remove login accounts that are no longer linked to anyone."),
        ),
    )
}
