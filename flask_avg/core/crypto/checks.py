"""The checks made at ``init_app``: declarations, the keyring, and what is stored."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from flask import Flask
from sqlalchemy import (
    Column,
    String,
    UniqueConstraint,
    inspect,
    literal,
    select,
)
from sqlalchemy import exc as sa_exc

from flask_avg.core.config import ConfigurationError
from flask_avg.core.crypto.column import (
    encrypted_columns,
    is_encrypted,
    raw,
    row_sql,
    stored_plain,
    stored_sealed,
)
from flask_avg.core.crypto.keyring import (
    ENV,
    STRICT,
    V1,
    DecryptionError,
    Keyring,
    keyring_from_config,
)
from flask_avg.core.crypto.orm import host_metadatas, install

log = logging.getLogger("flask_avg.core.crypto")  # the package's name: what a host configures

# -- checks at init_app ----------------------------------------------------------


def declaration_errors(registry: Any, state: Any) -> list[str]:
    """What is wrong with the encrypted columns the host declared (see the module doc)."""
    errors: list[str] = []
    login_email = _login_email_column(state)
    for model in registry:
        table = model.table
        for col in table.columns:
            spec = model.columns.get(col.name)
            enc = is_encrypted(col)
            where = f"{model.name}.{col.name}"
            if spec is not None and spec.encrypted and not enc:
                errors.append(
                    f"{where}: declared encrypted but its type is {col.type}; "
                    "give it the type flask_avg.Encrypted()"
                )
            if not enc:
                continue
            errors.extend(_column_errors(col, where))
            if col.name == model.policy.anchor:
                errors.append(f"{where}: the retention anchor cannot be encrypted")
            if col.name in model.policy.routes:
                errors.append(f"{where}: a column named in via= joins rows and cannot be encrypted")
            if any(s.party == col.name for s in model.columns.values()):
                errors.append(
                    f"{where}: a party= column is compared in SQL and cannot be encrypted"
                )
            if login_email is not None and col is login_email:
                errors.append(
                    f"{where}: users are looked up by this column and it cannot be encrypted"
                )
            if spec is None:
                continue
            if isinstance(spec.anonymise, str) and spec.anonymise in ("mask", "email", "hash"):
                errors.append(
                    f"{where}: anonymise={spec.anonymise!r} writes a marker in plain text; "
                    "an encrypted column is blanked to NULL (or anonymise='fixed')"
                )
            if spec.anonymise == "auto" and not col.nullable:
                errors.append(
                    f"{where}: erasure blanks an encrypted value to NULL; make the column "
                    "nullable or declare anonymise='fixed' with a value"
                )
    return errors


def _column_errors(col: Column[Any], where: str) -> list[str]:
    table = col.table
    errors: list[str] = []
    if col.primary_key:
        errors.append(f"{where}: a primary key cannot be encrypted")
    if col.foreign_keys:
        errors.append(f"{where}: a foreign key cannot be encrypted")
    why = "every value is encrypted with a fresh nonce, so equal values never look equal"
    if col.unique or any(
        isinstance(c, UniqueConstraint) and col.name in c.columns for c in table.constraints
    ):
        errors.append(f"{where}: an encrypted column cannot be unique ({why})")
    if col.index or any(col.name in ix.columns for ix in table.indexes):
        errors.append(f"{where}: an encrypted column cannot be indexed ({why})")
    return errors


def _login_email_column(state: Any) -> Any:
    if state.ext._user_lookup is not None:
        return None
    try:
        model = state.user_model
    except Exception:  # noqa: BLE001 (no login model found: nothing looked up by e-mail)
        return None
    prop = getattr(model, "email", None) if model is not None else None
    cols = getattr(getattr(prop, "property", None), "columns", None)
    return cols[0] if cols else None


def init_app(app: Flask, state: Any) -> Keyring | None:
    """Read the keyring, refuse bad declarations, and prove the keys on stored values.

    Raises :class:`ConfigurationError` with the reason; never starts without keys
    when an encrypted column exists.
    """
    metadatas = host_metadatas(state.db)
    columns = list(encrypted_columns(metadatas.values()))
    keyring = keyring_from_config(app)
    if keyring is not None and app.config.get(STRICT):
        keyring = replace(keyring, row_bound=True)
    install()
    errors = declaration_errors(state.registry, state)
    if columns and keyring is None:
        names = ", ".join(f"{c.table.name}.{c.name}" for c in columns)
        errors.append(
            f"{names} {'is' if len(columns) == 1 else 'are'} encrypted but no key is set: "
            f"set {ENV} (config or environment) to 'id:base64', e.g. from 'flask avg generate-key'"
        )
    if errors:
        raise ConfigurationError(
            "flask-avg cannot store encrypted columns safely:\n  " + "\n  ".join(errors)
        )
    if keyring is not None and columns:
        with app.app_context():
            verify_stored(state.db, metadatas, keyring)
    return keyring


def verify_stored(db: Any, metadatas: dict[str | None, Any], keyring: Keyring) -> None:
    """Decrypt the first stored value of every encrypted column: a wrong or missing key
    is found before the first page is served. Plain text left in an encrypted column
    (before ``flask avg encrypt-existing`` ran) is logged, never shown; with
    ``AVG_ENCRYPTION_ROW_BOUND`` a value not bound to its row stops the start."""
    for bind, metadata in metadatas.items():
        try:
            engine = db.engines[bind]
        except (KeyError, AttributeError):
            engine = db.engine
        cols = list(encrypted_columns([metadata]))
        if not cols:
            continue
        try:
            with engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
                for col in cols:
                    if col.table.name not in present:
                        continue
                    problem = _first_problem(conn, col, keyring)
                    if problem:
                        conn.close()
                        engine.dispose()  # the app will not start: leave no connection
                        raise ConfigurationError(
                            f"{col.table.name}.{col.name}: {problem}. Check {ENV}; flask-avg "
                            "does not start with keys that cannot read the stored values"
                        )
        except sa_exc.OperationalError as err:
            log.warning("flask-avg could not check the encryption keys: %s", err)


def _first_problem(conn: Any, col: Column[Any], keyring: Keyring) -> str | None:
    stored = raw(col)
    table, name = col.table.name, col.name
    pks = list(col.table.primary_key.columns)
    row = row_sql(pks) if pks else literal(None, String())
    first = conn.execute(select(row, stored).where(stored_sealed(col)).limit(1)).first()
    if first is not None:
        try:
            keyring.open(first[1], table, name, first[0])
        except DecryptionError as err:
            return str(err)
    if keyring.row_bound:
        old = select(stored).where(stored.startswith(f"{V1}:")).limit(1)
        if conn.execute(old).first() is not None:
            return (
                f"values bound to their column only (format v1) remain and {STRICT} "
                "refuses them; run 'flask avg rotate-keys' before setting it"
            )
    if conn.execute(select(stored).where(stored_plain(col)).limit(1)).first() is not None:
        log.warning(
            "%s.%s holds plain text: run 'flask avg encrypt-existing' (it is not shown)",
            table,
            name,
        )
    return None
