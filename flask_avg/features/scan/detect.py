"""Recognisers for personal data in free text: BSN, IBAN, phone, e-mail, postcode, date of birth.

Each recogniser first finds candidates with a cheap regular expression, then checks
them the way the number's issuer does: the BSN's 11-proof and the IBAN's mod-97
through python-stdnum, phone numbers through phonenumbers (Google's metadata:
Dutch numbers, and international ones written with ``+`` or ``00``). Both libraries
come with the ``scan`` extra (``pip install flask-avg[scan]``); :func:`require`
says so clearly when they are missing.

A value that merely looks like a number (nine digits failing the 11-proof, an
IBAN with a wrong check, a phone number too short for its area) is not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

#: The kinds of personal data recognised, in the order reports list them.
KINDS = ("bsn", "iban", "phone", "email", "postcode", "birth_date")

#: Which declared categories a kind belongs to; a kind found in a column declared
#: under another category is flagged as a mismatch.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "bsn": ("national_id",),
    "iban": ("financial",),
    "phone": ("contact",),
    "email": ("contact", "account"),
    "postcode": ("address",),
    "birth_date": ("identity",),
}

_BSN = re.compile(r"(?<![\w.-])(\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}[. ]\d{3}[. ]\d{3})(?![\w-]|\.\d)")
_IBAN = re.compile(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b", re.I)
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*\.[a-z]{2,24}\b", re.I)
#: a Dutch postcode (letters SA, SD and SS are never used) with a house number after
#: it ("1234 AB 12"), or after a house number ("Dorpsstraat 12, 1234 AB"), or alone
_PC = r"[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}"
_POSTCODE = re.compile(rf"\b({_PC})\b(?=,? *\d{{1,5}}\b)|\d[a-zA-Z]?,? +({_PC})\b|^\s*({_PC})\s*$")
_DATE = re.compile(r"\b(?:(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})|(\d{4})-(\d{2})-(\d{2}))\b")
_BIRTH_WORDS = re.compile(
    r"\b(?:geb(?:oren|\.)?|geboortedatum|born|birth(?:day|date)?|date of birth|dob|d\.o\.b\.)",
    re.I,
)
#: phone candidates: a run of digits, spaces, dashes, dots and brackets, with at
#: least eight digits, optionally after + (the matcher needs no more than these)
_PHONE_HINT = re.compile(r"(?:\+|\b00|\b0)[\d ()./-]{8,20}\d")
_DIGITS = re.compile(r"\d")


class MissingLibraries(RuntimeError):
    """python-stdnum or phonenumbers is not installed."""


def require() -> None:
    """Raise :class:`MissingLibraries` with the install line when a library is missing."""
    missing = []
    for module, package in (("stdnum", "python-stdnum"), ("phonenumbers", "phonenumbers")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise MissingLibraries(
            f"the scan needs {' and '.join(missing)}: pip install 'flask-avg[scan]'"
        )


def _bsn_ok(digits: str) -> bool:
    from stdnum.nl import bsn

    return bool(bsn.is_valid(digits)) and digits != "000000000"


def _iban_ok(text: str) -> bool:
    from stdnum import iban

    return bool(iban.is_valid(text))


def _birth_date(match: re.Match[str], text: str, today: date) -> bool:
    d, m, y, y2, m2, d2 = match.groups()
    try:
        when = date(int(y or y2), int(m or m2), int(d or d2))
    except ValueError:
        return False
    if not (when.year >= 1900 and when <= date(today.year - 4, today.month, 1)):
        return False
    if match.start() == 0 and match.end() == len(text):
        return True  # the whole value is a date: a birth-date column in disguise
    before = text[max(0, match.start() - 30) : match.start()]
    return bool(_BIRTH_WORDS.search(before))


def _phones(text: str) -> Iterator[str]:
    if len(_DIGITS.findall(text)) < 9 or not _PHONE_HINT.search(text):
        return
    import phonenumbers

    for match in phonenumbers.PhoneNumberMatcher(text, "NL", leniency=phonenumbers.Leniency.VALID):
        yield match.raw_string


def find(text: Any, today: date | None = None) -> dict[str, list[str]]:
    """``{kind: [matched text, ...]}`` for every kind of personal data in ``text``."""
    if not isinstance(text, str):
        if isinstance(text, bytes | bytearray | memoryview):
            return {}
        text = str(text)
    if len(text) < 6:
        return {}
    found: dict[str, list[str]] = {}
    has_digit = _DIGITS.search(text) is not None
    if "@" in text:
        emails = _EMAIL.findall(text)
        if emails:
            found["email"] = emails
    if not has_digit:
        return found
    ibans = [m.group(1) for m in _IBAN.finditer(text) if _iban_ok(m.group(1))]
    if ibans:
        found["iban"] = ibans
    bsns = [
        m.group(1)
        for m in _BSN.finditer(text)
        if _bsn_ok(re.sub(r"\D", "", m.group(1))) and not any(m.group(1) in i for i in ibans)
    ]
    if bsns:
        found["bsn"] = bsns
    phones = [p for p in _phones(text) if not any(p in i for i in ibans)]
    if phones:
        found["phone"] = phones
    postcodes = [next(g for g in m.groups() if g) for m in _POSTCODE.finditer(text)]
    if postcodes:
        found["postcode"] = postcodes
    dates = list(_DATE.finditer(text))
    if dates:
        today = today or date.today()
        births = [m.group(0) for m in dates if _birth_date(m, text, today)]
        if births:
            found["birth_date"] = births
    return found


def mask(value: str) -> str:
    """``value`` with all but its first and last two letters or digits starred out."""
    chars = list(value)
    positions = [i for i, c in enumerate(chars) if c.isalnum()]
    keep = set(positions[:1] + positions[-2:]) if len(positions) > 6 else set(positions[:1])
    return "".join("*" if i in positions and i not in keep else c for i, c in enumerate(chars))
