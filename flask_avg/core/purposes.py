"""Consent purposes as declared in code: what a member can agree to, and its text's hash.

A declaration, like a data category: the kernel keeps it from ``avg.consent_purpose``
(called before ``init_app``); the consent feature stores and proves the answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Purpose", "canonical_text", "declare", "text_hash"]


def text_hash(text: Any) -> str:
    """SHA-256 of a purpose text as declared (the English msgid for translated texts)."""
    return hashlib.sha256(canonical_text(text).encode("utf-8")).hexdigest()


def canonical_text(text: Any) -> str:
    """The declared text itself; a lazily translated string gives its untranslated form."""
    args = getattr(text, "_args", None)
    if args and isinstance(args[0], str):
        return args[0]
    return str(text)


@dataclass(frozen=True)
class Purpose:
    """Something a member can agree to, such as the newsletter or photos on the website."""

    key: str
    label: Any
    text: Any
    version: str
    expires_days: int | None = None
    source: str = "code"  # "code" or "board"

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


def declare(
    registry: dict[str, Purpose],
    key: str,
    label: Any,
    text: Any,
    version: str,
    *,
    expires_days: int | None = None,
) -> Purpose:
    if not key or len(key) > 64 or not key.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"consent purpose key {key!r} must be a short name like 'newsletter'")
    if not version or len(version) > 40:
        raise ValueError(f"consent purpose {key!r} needs a version label of at most 40 characters")
    if expires_days is not None and expires_days < 1:
        raise ValueError(f"consent purpose {key!r}: expires_days must be positive")
    purpose = Purpose(key, label, text, version, expires_days)
    registry[key] = purpose
    return purpose
