"""The backup file's encryption: chunks bound to their place, a cut-short file noticed."""

from __future__ import annotations

import os
import struct

import pytest

from flask_avg.features.backup.box import MAGIC, BackupError, Secret, WrongKey, open_box, seal

KEY = Secret(key="cd" * 32)


def _chunks(path):
    data = path.read_bytes()
    pos = len(MAGIC)
    (size,) = struct.unpack(">I", data[pos : pos + 4])
    pos += 4 + size
    starts = []
    while pos < len(data):
        starts.append(pos)
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        pos += 4 + size
    return data, starts


def test_round_trip_over_several_chunks(tmp_path):
    plain = os.urandom(3 * (1 << 20) + 123)  # random: compression leaves several chunks
    (tmp_path / "plain").write_bytes(plain)
    seal(tmp_path / "plain", tmp_path / "box", KEY, {"id": "x"})
    data, starts = _chunks(tmp_path / "box")
    assert len(starts) >= 3
    assert open_box(tmp_path / "box", tmp_path / "out", KEY) == {"id": "x"}
    assert (tmp_path / "out").read_bytes() == plain

    (tmp_path / "short").write_bytes(data[: starts[-1]])  # the last chunk dropped
    with pytest.raises(BackupError, match="altered or cut short"):
        open_box(tmp_path / "short", tmp_path / "out", KEY)
    swapped = data[: starts[1]] + data[starts[2] : starts[3]] + data[starts[1] : starts[2]]
    (tmp_path / "swapped").write_bytes(swapped + data[starts[3] :])
    with pytest.raises(BackupError, match="altered"):
        open_box(tmp_path / "swapped", tmp_path / "out", KEY)


def test_wrong_key_and_not_a_backup(tmp_path):
    (tmp_path / "plain").write_bytes(b"club data")
    seal(tmp_path / "plain", tmp_path / "box", Secret(passphrase="a long passphrase"), {})
    with pytest.raises(WrongKey):
        open_box(tmp_path / "box", tmp_path / "out", Secret(passphrase="another passphrase"))
    with pytest.raises(WrongKey, match="made with a passphrase"):
        open_box(tmp_path / "box", tmp_path / "out", KEY)
    with pytest.raises(BackupError, match="not a flask-avg backup"):
        open_box(tmp_path / "plain", tmp_path / "out", KEY)
    with pytest.raises(BackupError, match="32 bytes"):
        Secret(key="too short").key()


def test_a_missing_dump_tool_says_what_to_install(monkeypatch, tmp_path):
    from flask_avg.features.backup.service import _tool

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError, match=r"pg_dump is not installed.*apt-get install postgresql"):
        _tool("pg_dump", package="postgresql-client")
