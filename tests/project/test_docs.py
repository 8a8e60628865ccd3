"""The configuration reference documents every AVG_ key."""

from __future__ import annotations

from flask_avg.core.config import DEFAULTS
from tests.support import ROOT as REPO

DOCS = REPO / "docs"


def test_every_config_key_is_documented():
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.rst"))
    missing = [key for key in DEFAULTS if f"AVG_{key}" not in text]
    assert not missing, f"undocumented configuration keys: {missing}"


def test_the_documented_host_plugin_is_whole_and_under_40_lines():
    """docs/plugins.rst shows the example club's photos plugin, all of it, in under 40 lines;
    tests/core/test_lifecycle.py proves it takes part in export and erasure."""
    import re

    page = (DOCS / "plugins.rst").read_text(encoding="utf-8")
    first, last = map(int, re.search(r":lines: (\d+)-(\d+)", page).groups())
    source = (DOCS.parent / "example_app" / "photos.py").read_text(encoding="utf-8").splitlines()
    shown = source[first - 1 : last]
    assert last - first + 1 < 40
    text = "\n".join(shown)
    assert "class MemberPhotos(Plugin):" in text
    assert "def export(" in text and "def erase_external(" in text
    # everything the plugin class holds is inside the lines shown
    after = "\n".join(source[last:])
    assert not after.strip() or after.lstrip().startswith("def ")
