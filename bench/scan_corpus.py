"""A seeded corpus for the free-text scan: true and false BSNs, IBANs, phone numbers,
e-mail addresses, postcodes and dates of birth, and look-alikes of each.

Every text comes with the kinds it truly holds, computed here independently of the
detector (the 11-proof and mod-97 written out), so the bench can print precision
and recall and the tests can assert them.
"""

from __future__ import annotations

import random
import string

NEUTRAL = (
    "Training verplaatst naar donderdag",
    "Bedankt voor de inzet bij het toernooi",
    "Kantinedienst geruild",
    "Seizoen 2019-2020 afgesloten met 14-3 winst",
    "Versie 2.1 van het reglement",
    "Bestelling ART-0000-1234 geleverd",
    "Score 3-1, volgende week uit",
)


def bsn(rng: random.Random, valid: bool) -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        digits[0] = rng.randint(1, 9)
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        check = total % 11
        if check == 10:
            continue
        last = check if valid else (check + rng.randint(1, 9)) % 10
        if not valid and (total - last) % 11 == 0:
            continue
        return "".join(map(str, digits)) + str(last)


def iban(rng: random.Random, valid: bool) -> str:
    bank = rng.choice(["ABNA", "INGB", "RABO", "TRIO", "SNSB"])
    account = "".join(rng.choice(string.digits) for _ in range(10))
    body = bank + account + "NL00"
    number = int("".join(str(int(c, 36)) for c in body))
    check = 98 - number % 97
    if not valid:
        check = (check + rng.randint(1, 96)) % 97 or 1
        if check == 98 - number % 97:
            check = check % 97 + 1
    return f"NL{check:02d}{bank}{account}"


def phone(rng: random.Random) -> str:
    n = rng.randint(10_000_000, 99_999_999)
    return rng.choice(
        [
            f"06-{rng.randint(1, 6)}{n % 10_000_000:07d}",
            f"06 {rng.randint(1, 6)}{n % 10_000_000:07d}",
            f"020-{rng.randint(2, 7)}{n % 1_000_000:06d}",
            f"+31 6 {rng.randint(1, 6)}{n % 10_000_000:07d}",
            f"+32 470 {n % 1_000_000:06d}",
            f"+49 30 {n:08d}",
        ]
    )


def corpus(size: int = 2000, seed: int = 16) -> list[tuple[str, frozenset[str]]]:
    """``size`` texts with the kinds each truly holds."""
    rng = random.Random(seed)
    out: list[tuple[str, frozenset[str]]] = []
    makers = [
        lambda: (f"BSN {bsn(rng, True)} doorgegeven", {"bsn"}),
        lambda: (f"Ordernummer {bsn(rng, False)}", set()),
        lambda: (f"Contributie van {iban(rng, True)} afgeschreven", {"iban"}),
        lambda: (f"Rekening {iban(rng, False)} klopt niet", set()),
        lambda: (f"Bel me op {phone(rng)} na zessen", {"phone"}),
        lambda: (f"Code 06-{rng.randint(100, 999)} uitgereikt", set()),
        lambda: (f"Mail naar lid{rng.randint(1, 9999)}@example.nl", {"email"}),
        lambda: (f"lid{rng.randint(1, 99)} at example dot nl of @club", set()),
        lambda: (
            f"Woont op Dorpsstraat {rng.randint(1, 200)}, {rng.randint(1000, 9999)} "
            f"{rng.choice(['AB', 'KL', 'XZ'])} Utrecht",
            {"postcode"},
        ),
        lambda: (f"Postcode {rng.randint(1000, 9999)} AB {rng.randint(1, 99)}", {"postcode"}),
        lambda: (
            f"Geboren op {rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1940, 2015)}",
            {"birth_date"},
        ),
        lambda: (
            f"Wedstrijd op {rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(2010, 2015)} gewonnen",
            set(),
        ),
        lambda: (rng.choice(NEUTRAL), set()),
    ]
    for _ in range(size):
        text, kinds = rng.choice(makers)()
        out.append((text, frozenset(kinds)))
    return out


def score(
    found: list[set[str]], truth: list[frozenset[str]], kinds: tuple[str, ...]
) -> dict[str, tuple[float, float]]:
    """``{kind: (precision, recall)}``; 1.0 where nothing was expected or found."""
    scores = {}
    for kind in kinds:
        tp = sum(1 for f, t in zip(found, truth, strict=True) if kind in f and kind in t)
        fp = sum(1 for f, t in zip(found, truth, strict=True) if kind in f and kind not in t)
        fn = sum(1 for f, t in zip(found, truth, strict=True) if kind not in f and kind in t)
        scores[kind] = (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)
    return scores
