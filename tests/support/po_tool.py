"""Writes a .po file from 'English|Dutch' lines: ``python tests/support/po_tool.py pairs.txt out.po``.

A small helper for contributors; the catalogue itself is the checked-in .po.
"""

from __future__ import annotations

import sys


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(src: str, dst: str) -> None:
    out = [
        'msgid ""',
        'msgstr ""',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        '"Language: nl\\n"',
        "",
    ]
    with open(src, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            english, dutch = line.split("|", 1)
            out += [f"msgid {quote(english)}", f"msgstr {quote(dutch)}", ""]
    with open(dst, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
