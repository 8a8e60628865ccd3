"""Keys and sealed values: the keyring, the token format and what each value is bound to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app, has_app_context

from flask_avg.core.config import ConfigurationError

#: the format written: bound to table, column and row
FORMAT = "v2"
#: the first format, bound to table and column only: still read (see AVG_ENCRYPTION_ROW_BOUND)
V1 = "v1"
#: an anonymised constant: the same sealed value in every row of a column
CONSTANT = "c2"
FORMATS = (V1, FORMAT, CONSTANT)
ENV = "AVG_ENCRYPTION_KEYS"
STRICT = "AVG_ENCRYPTION_ROW_BOUND"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
NONCE_BYTES = 12
TOKEN = re.compile(r"^([vc][0-9]+):([A-Za-z0-9_-]{1,16}):([A-Za-z0-9+/=]+)$")
#: what a stored value starts with when it is (or claims to be) an encrypted value
TOKEN_PREFIXES = tuple(f"{v}:" for v in FORMATS)
#: between the row's key and the value in what ``column_expression`` selects; a
#: stored value never holds it, and a key of text has it escaped (see :func:`row_sql`)
SEP = "|"


class CryptoError(RuntimeError):
    """Encryption cannot be done here (no keyring, a value of the wrong type)."""


class DecryptionError(CryptoError):
    """A stored value does not decrypt: wrong key, unknown key, moved or altered."""


class EncryptedComparisonError(CryptoError):
    """SQL cannot compare, sort or search an encrypted column: every value is random."""


def generate_key() -> str:
    """A fresh 256-bit key, base64-encoded, for ``AVG_ENCRYPTION_KEYS``."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Keyring:
    """The keys by id; ``primary`` writes, every key reads. With ``row_bound`` (set from
    ``AVG_ENCRYPTION_ROW_BOUND``) values not bound to their row are refused."""

    primary: str
    keys: dict[str, bytes]
    row_bound: bool = False
    #: one AESGCM object per key id, made on first use (making one costs more than a seal)
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            cipher = self._ciphers[kid] = AESGCM(self.keys[kid])
        return cipher

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> Keyring:
        """``"k2:<base64>,k1:<base64>"`` (or a list of ``"id:base64"``); the first is primary."""
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for raw_item in items:
            item = raw_item.strip()
            if not item:
                continue
            kid, sep, material = item.partition(":")
            if not sep or not KEY_ID.match(kid):
                raise ConfigurationError(
                    f"{ENV}: each key is written id:base64 with an id of letters, digits, "
                    "'-' or '_' (at most 16), e.g. 'k2:...,k1:...'"
                )
            try:
                key = base64.b64decode(material.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(f"{ENV}: key {kid!r} is not valid base64") from None
            if len(key) != 32:
                raise ConfigurationError(
                    f"{ENV}: key {kid!r} is {len(key)} bytes; AES-256 needs 32 "
                    "(make one with 'flask avg generate-key')"
                )
            if kid.lower() in {k.lower() for k in keys}:
                # MariaDB compares text without case: ids must differ in more than case
                raise ConfigurationError(f"{ENV}: key id {kid!r} is given twice")
            keys[kid] = key
            order.append(kid)
        if not order:
            raise ConfigurationError(f"{ENV} holds no key")
        return cls(primary=order[0], keys=keys)

    def _seal(self, version: str, plaintext: str, aad: bytes, nonce: bytes | None = None) -> str:
        nonce = nonce or os.urandom(NONCE_BYTES)
        sealed = self._cipher(self.primary).encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{version}:{self.primary}:{base64.b64encode(nonce + sealed).decode()}"

    def seal(self, plaintext: str, table: str, column: str, row: str | None) -> str:
        """``plaintext`` sealed for ``table.column`` of the row whose key text is ``row``
        (see :func:`row_text`); ``row=None`` seals for the column only (format ``v1``),
        for a row whose key is not known yet."""
        if row is None:
            if self.row_bound:
                raise CryptoError(
                    f"{table}.{column}: this write does not know its row, and {STRICT} "
                    "refuses values not bound to their row; write through the ORM session"
                )
            return self._seal(V1, plaintext, associated_data(table, column))
        return self._seal(FORMAT, plaintext, row_associated_data(table, column, row))

    def seal_constant(self, plaintext: str, table: str, column: str) -> str:
        """The one sealed value of ``plaintext`` for every row of ``table.column`` under
        the primary key (format ``c2``): the nonce is derived from key, place and text,
        so sealing it again gives the same value. For public constants only (anonymised
        values): whoever sees two equal ``c2`` values knows their plain text is equal."""
        aad = constant_associated_data(table, column)
        mac = hmac.new(self.keys[self.primary], b"nonce|" + aad, hashlib.sha256)
        mac.update(plaintext.encode("utf-8"))
        return self._seal(CONSTANT, plaintext, aad, mac.digest()[:NONCE_BYTES])

    def open(self, token: str, table: str, column: str, row: str | None) -> str:
        """The plain text of a stored value of ``table.column`` in the row whose key text
        is ``row`` (None: the query did not select it)."""
        version = split_token(token)[0]
        if version == FORMAT:
            if row is None:
                raise DecryptionError(
                    f"{table}.{column}: the value is bound to its row, and the query did not "
                    "select the row's primary key with it (a subquery that drops the key?)"
                )
            aad = row_associated_data(table, column, row)
        elif version == V1:
            if self.row_bound:
                raise DecryptionError(
                    f"{table}.{column}: the value is bound to its column only (format v1) "
                    f"and {STRICT} refuses those; run 'flask avg rotate-keys'"
                )
            aad = associated_data(table, column)
        elif version == CONSTANT:
            aad = constant_associated_data(table, column)
        else:
            raise DecryptionError(f"unknown encrypted-value format {version!r}")
        return self.decrypt(token, aad)

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        """``plaintext`` sealed with ``aad`` in the column-only format (``v1``)."""
        return self._seal(V1, plaintext, aad)

    def decrypt(self, token: str, aad: bytes) -> str:
        version, kid, body = split_token(token)
        if version not in FORMATS:
            raise DecryptionError(f"unknown encrypted-value format {version!r}")
        if kid not in self.keys:
            raise DecryptionError(
                f"the value is encrypted with key {kid!r}, which {ENV} does not hold"
            )
        try:
            raw_bytes = base64.b64decode(body, validate=True)
            cipher = self._cipher(kid)
            plain = cipher.decrypt(raw_bytes[:NONCE_BYTES], raw_bytes[NONCE_BYTES:], aad)
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(
                f"the value does not decrypt with key {kid!r}: a wrong key, or a value "
                "altered or moved from another column or row"
            ) from None
        return plain.decode("utf-8")


def split_token(token: str) -> tuple[str, str, str]:
    """``(version, key id, body)`` of a stored value; anything else is refused."""
    found = TOKEN.match(token) if isinstance(token, str) else None
    if found is None:
        raise DecryptionError("the stored value is not an encrypted value (plaintext?)")
    return found.group(1), found.group(2), found.group(3)


def looks_sealed(value: str) -> bool:
    """Whether a stored text claims to be an encrypted value (starts like one)."""
    return value.startswith(TOKEN_PREFIXES)


def key_prefix(kid: str, version: str = FORMAT) -> str:
    """What every value sealed with key ``kid`` in ``version`` starts with."""
    return f"{version}:{kid}:"


def associated_data(table: str, column: str) -> bytes:
    """What a ``v1`` value is bound to: its table and column."""
    return f"flask-avg|{table}|{column}".encode()


def row_associated_data(table: str, column: str, row: str) -> bytes:
    """What a ``v2`` value is bound to: its table, column and row (the key's text)."""
    return f"flask-avg|v2|{table}|{column}|{row}".encode()


def constant_associated_data(table: str, column: str) -> bytes:
    return f"flask-avg|c2|{table}|{column}".encode()


def keyring_from_config(app: Flask) -> Keyring | None:
    """``AVG_ENCRYPTION_KEYS`` from the config, else from the environment; None when neither."""
    spec = app.config.get(ENV) or os.environ.get(ENV)
    return Keyring.parse(spec) if spec else None


def current_keyring() -> Keyring:
    if not has_app_context():
        raise CryptoError("encrypted columns are read and written inside the app context")
    keyring: Keyring | None = getattr(current_app.extensions.get("avg"), "keyring", None)
    if keyring is None:
        raise CryptoError(f"no encryption keys: set {ENV}")
    return keyring


#: operators an encrypted column allows: a test for NULL (which erasure needs)
