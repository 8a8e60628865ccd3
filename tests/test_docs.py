"""The configuration reference documents every AVG_ key."""

from __future__ import annotations

from pathlib import Path

from flask_avg.core.config import DEFAULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_config_key_is_documented():
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.rst"))
    missing = [key for key in DEFAULTS if f"AVG_{key}" not in text]
    assert not missing, f"undocumented configuration keys: {missing}"
