"""Encrypted columns: AES-256-GCM per value, bound to its row, a keyring, and the checks made
at ``init_app``.

A host stores a column encrypted by giving it the type :class:`Encrypted`
(``mapped_column(Encrypted(), info=personal("health", encrypted=True))``). Each value
is written as ``v2:<key id>:<base64(nonce, ciphertext, tag)>``: the format version,
the id of the key that sealed it, and a fresh 96-bit nonce. The table, the column and
the row's primary key are bound as associated data, so a value copied into another
column or another row does not decrypt. Keys come from ``AVG_ENCRYPTION_KEYS`` (or the
environment variable of that name) as ``"k2:<base64>,k1:<base64>"``: the first key
writes, every key reads. ``flask avg rotate-keys`` re-encrypts everything under the
first, and upgrades older values to the current format.

How the row is known. Reading: the type's ``column_expression`` selects the row's
primary key with the value (``CAST(id AS VARCHAR) || '|' || notes``), for ORM and
Core selects alike. Writing: a bind parameter does not know its row, so the ORM's
flush hooks hand the value its row (:func:`install`): an update of a loaded row binds
its key at once, an insert whose key the database makes is written bound to the
column only (format ``v1``) and sealed to its new key by one ``UPDATE`` in the same
transaction. flask-avg's own set-based writers (rotation, encrypt-existing) seal with
the row's key directly. A Core ``insert()``/``update()`` outside the ORM writes
``v1``; ``rotate-keys`` upgrades those, and ``AVG_ENCRYPTION_ROW_BOUND`` refuses them.

Anonymised constants (``personal(anonymise="fixed")`` on an encrypted column) are the
one value that is deliberately the same in every row: format ``c2``, a deterministic
seal bound to table and column (:meth:`Keyring.seal_constant`), so erasure stays one
``UPDATE`` per batch and recognises what it already did. Its plain text is public.

Nothing here ever falls back to plaintext: a value that does not decrypt raises
:class:`DecryptionError`, and a missing or wrong key stops the app at start-up.

The package, by part: :mod:`.keyring` (keys, the token format, what a value is bound
to), :mod:`.column` (the ``Encrypted`` type), :mod:`.orm` (the flush hooks that bind a
value to its row), :mod:`.checks` (``init_app``'s checks) and :mod:`.rewrite` (rotation
and encrypting existing plain text). Everything a caller needs is importable from here.
"""

from __future__ import annotations

from flask_avg.core.crypto.checks import (
    declaration_errors,
    init_app,
    verify_stored,
)
from flask_avg.core.crypto.column import (
    BoundText,
    Encrypted,
    bound_text,
    encrypted_columns,
    is_encrypted,
    raw,
    row_sql,
    row_text,
    stored_plain,
    stored_sealed,
)
from flask_avg.core.crypto.keyring import (
    CONSTANT,
    ENV,
    FORMAT,
    FORMATS,
    KEY_ID,
    NONCE_BYTES,
    SEP,
    STRICT,
    TOKEN,
    TOKEN_PREFIXES,
    V1,
    CryptoError,
    DecryptionError,
    EncryptedComparisonError,
    Keyring,
    associated_data,
    constant_associated_data,
    current_keyring,
    generate_key,
    key_prefix,
    keyring_from_config,
    looks_sealed,
    row_associated_data,
    split_token,
)
from flask_avg.core.crypto.orm import (
    host_metadatas,
    install,
)
from flask_avg.core.crypto.rewrite import (
    RotationColumn,
    encrypt_column,
    lookalikes,
    pending,
    plaintext_pending,
    rotate_column,
    rotation_plan,
)

__all__ = [
    "BoundText",
    "CONSTANT",
    "CryptoError",
    "DecryptionError",
    "ENV",
    "Encrypted",
    "EncryptedComparisonError",
    "FORMAT",
    "FORMATS",
    "KEY_ID",
    "Keyring",
    "NONCE_BYTES",
    "RotationColumn",
    "SEP",
    "STRICT",
    "TOKEN",
    "TOKEN_PREFIXES",
    "V1",
    "associated_data",
    "bound_text",
    "constant_associated_data",
    "current_keyring",
    "declaration_errors",
    "encrypt_column",
    "encrypted_columns",
    "generate_key",
    "host_metadatas",
    "init_app",
    "install",
    "is_encrypted",
    "key_prefix",
    "keyring_from_config",
    "lookalikes",
    "looks_sealed",
    "pending",
    "plaintext_pending",
    "raw",
    "rotate_column",
    "rotation_plan",
    "row_associated_data",
    "row_sql",
    "row_text",
    "split_token",
    "stored_plain",
    "stored_sealed",
    "verify_stored",
]
