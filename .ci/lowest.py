"""Print pip constraints pinning every dependency floor in setup.cfg (``>=X`` becomes ``==X``).

``make test-lowest`` installs flask-avg with these constraints, so the suite proves that the
oldest versions setup.cfg allows really work. Every runtime requirement must have a ``>=``
floor. The ``test`` extras are pinned too, except the tools in KEEP_RECENT: their floors say
nothing about a host's install, and an old pytest or browser driver only slows this leg down.
Flask-Security-Too and Flask-Migrate stay pinned: flask-avg integrates with the host's copy.
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

#: test tools whose floor is irrelevant to users, and database drivers of legs this run skips
KEEP_RECENT = {
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "time-machine",
    "openpyxl",
    "playwright",
    "aiosmtpd",
    "psycopg",
    "pymysql",
}
EXTRAS = ("test",)

REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(\[[^\]]*\])?\s*>=\s*(?P<floor>[^,;\s]+)$")


def floors(setup_cfg: Path) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    lines = parser["options"]["install_requires"].split()
    for extra in EXTRAS:
        lines += parser["options.extras_require"][extra].split()
    pins: list[str] = []
    for line in lines:
        match = REQUIREMENT.match(line)
        if match is None:
            raise SystemExit(f"setup.cfg: {line!r} has no '>=' floor to test")
        name = match["name"].lower()
        if name not in KEEP_RECENT:
            pins.append(f"{name}=={match['floor']}")
    return pins


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.stdout.write("".join(f"{pin}\n" for pin in floors(root / "setup.cfg")))
