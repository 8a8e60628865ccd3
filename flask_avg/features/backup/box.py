"""The backup file: compressed, then encrypted with AES-256-GCM in 1 MiB chunks.

Layout: the magic ``AVGBACKUP1\\n``, a 4-byte header length, the header (JSON: key
derivation, salt, nonce prefix, what is inside), then chunks, each a 4-byte length
and its ciphertext. Chunk ``i`` is sealed with the nonce prefix and ``i`` as its
nonce and the header plus ``i`` and a last-chunk flag as associated data, so a
chunk cannot be reordered, dropped or moved to another file, nor the file cut
short, without the restore noticing. The key is the raw 32-byte key given, or
derived from the passphrase with scrypt (n=2^15, r=8, p=1: about 32 MiB of memory).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"AVGBACKUP1\n"
CHUNK = 1 << 20
SCRYPT = {"n": 1 << 15, "r": 8, "p": 1}


class BackupError(RuntimeError):
    """A backup cannot be written or read; the message says why."""


class WrongKey(BackupError):
    """The passphrase or key does not open the backup (or the file was altered)."""


def _aead(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise BackupError(
            "backups need the cryptography package: pip install 'flask-avg[backup]'"
        ) from None
    return AESGCM(key)


def derive(secret: Secret, kdf: dict[str, Any]) -> bytes:
    if kdf["name"] == "raw":
        return secret.key()
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt = base64.b64decode(kdf["salt"])
    return Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        secret.passphrase()
    )


class Secret:
    """A passphrase, or a raw key (32 bytes, given as 64 hex digits or base64)."""

    def __init__(self, *, passphrase: str | None = None, key: str | None = None) -> None:
        if bool(passphrase) == bool(key):
            raise BackupError("give either a passphrase or a key")
        self._passphrase = passphrase
        self._key = key

    @property
    def is_key(self) -> bool:
        return self._key is not None

    def passphrase(self) -> bytes:
        assert self._passphrase is not None
        return self._passphrase.encode("utf-8")

    def key(self) -> bytes:
        raw = (self._key or "").strip()
        try:
            value = bytes.fromhex(raw) if len(raw) == 64 else base64.b64decode(raw, validate=True)
        except ValueError:
            value = b""
        if len(value) != 32:
            raise BackupError("a backup key is 32 bytes, written as 64 hex digits or base64")
        return value


def new_kdf(secret: Secret) -> dict[str, Any]:
    if secret.is_key:
        return {"name": "raw"}
    return {"name": "scrypt", "salt": base64.b64encode(os.urandom(16)).decode(), **SCRYPT}


def _private(path: Path) -> BinaryIO:
    """``path`` opened for writing, readable by its owner only from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, "wb")


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)


def seal(source: Path, target: Path, secret: Secret, info: dict[str, Any]) -> None:
    """Compress and encrypt the file ``source`` into ``target``; ``info`` goes in the header."""
    kdf = new_kdf(secret)
    aead = _aead(derive(secret, kdf))
    prefix = os.urandom(8)
    header = json.dumps(
        {"kdf": kdf, "nonce": base64.b64encode(prefix).decode(), "info": info}, sort_keys=True
    ).encode()
    tmp = target.with_name(target.name + ".part")
    with source.open("rb") as raw, _private(tmp) as out:
        out.write(MAGIC + struct.pack(">I", len(header)) + header)
        chunks = _compressed(raw)
        index, pending = 0, next(chunks, b"")
        while True:
            following = next(chunks, None)
            last = following is None
            sealed = aead.encrypt(_nonce(prefix, index), pending, _aad(header, index, last))
            out.write(struct.pack(">I", len(sealed)) + sealed)
            if following is None:
                break
            index, pending = index + 1, following
    tmp.replace(target)


def _compressed(raw: BinaryIO) -> Iterator[bytes]:
    z = zlib.compressobj(6)
    buffer = b""
    while block := raw.read(CHUNK):
        buffer += z.compress(block)
        while len(buffer) >= CHUNK:
            yield buffer[:CHUNK]
            buffer = buffer[CHUNK:]
    buffer += z.flush()
    while len(buffer) > CHUNK:
        yield buffer[:CHUNK]
        buffer = buffer[CHUNK:]
    yield buffer


def header(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return _read_header(fh)[1]


def _read_header(fh: BinaryIO) -> tuple[bytes, dict[str, Any]]:
    if fh.read(len(MAGIC)) != MAGIC:
        raise BackupError("not a flask-avg backup file")
    (size,) = struct.unpack(">I", fh.read(4))
    raw = fh.read(size)
    try:
        return raw, json.loads(raw)
    except ValueError:
        raise BackupError("the backup's header is damaged") from None


def open_box(source: Path, target: Path, secret: Secret) -> dict[str, Any]:
    """Decrypt and decompress ``source`` into ``target``; returns the header's ``info``."""
    from cryptography.exceptions import InvalidTag

    with source.open("rb") as fh, _private(target) as out:
        raw_header, head = _read_header(fh)
        if (head["kdf"]["name"] == "raw") != secret.is_key:
            wanted = "a key" if head["kdf"]["name"] == "raw" else "a passphrase"
            raise WrongKey(f"this backup was made with {wanted}")
        aead = _aead(derive(secret, head["kdf"]))
        prefix = base64.b64decode(head["nonce"])
        z = zlib.decompressobj()
        index = 0
        while True:
            size_bytes = fh.read(4)
            if len(size_bytes) < 4:
                raise BackupError("the backup file is cut short")
            (size,) = struct.unpack(">I", size_bytes)
            sealed = fh.read(size)
            last = fh.peek(1)[:1] == b"" if hasattr(fh, "peek") else False
            try:
                plain = aead.decrypt(_nonce(prefix, index), sealed, _aad(raw_header, index, last))
            except InvalidTag:
                if index == 0:
                    raise WrongKey(
                        "wrong passphrase or key (or the backup file was altered)"
                    ) from None
                raise BackupError("the backup file was altered or cut short") from None
            out.write(z.decompress(plain))
            if last:
                break
            index += 1
        out.write(z.flush())
    return dict(head["info"])
