"""Backups that respect erasure: ``backup`` and ``restore``.

``from flask_avg.features.backup.service import backup, restore`` is the public entry.

A backup holds the database (SQLite through its online backup API, PostgreSQL
through ``pg_dump``, MariaDB/MySQL through ``mariadb-dump``) and the erasure
ledger, in one compressed and encrypted file (:mod:`flask_avg.features.backup.box`).
Each backup has an id, remembered in the database (setting ``backup.taken``)
before the dump is made.

A restore needs the erasures recorded since the backup was taken: the live
database's ledger counts when that database knows the backup's id (it is the
database the backup came from, carried on) and holds every entry of the backup's
ledger; otherwise (the database was lost or replaced) the restore refuses unless
given the ledger exported outside the database (``flask avg export-ledger``). After
the database is restored, every erasure of the backup's, the live and the given
ledger is replayed (:func:`flask_avg.features.retention.ledger.replay`), so nobody
erased since comes back.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import g, has_app_context
from sqlalchemy import inspect, select

from flask_avg.core.models import Setting
from flask_avg.core.types import utcnow
from flask_avg.features.backup.box import BackupError, Secret, WrongKey, open_box, seal
from flask_avg.features.retention import ledger

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

__all__ = ["BackupError", "Secret", "WrongKey", "backup", "restore"]

TAKEN = "backup.taken"
#: backup ids the database remembers
REMEMBERED = 500
NAMES = ("manifest.json", "database", "ledger.jsonl")
#: seconds a restore waits for a table another connection holds (stop the site first)
LOCK_WAIT = 60


def _kind(engine: Any) -> str:
    name = engine.dialect.name
    if name in ("mysql", "mariadb"):
        return "mariadb"
    if name in ("sqlite", "postgresql"):
        return str(name)
    raise BackupError(f"flask avg backup knows no way to back up {name} databases")


def _tool(*names: str, package: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupError(
        f"{names[0]} is not installed; install the client tools "
        f"(Debian/Ubuntu: apt-get install {package})"
    )


def _pg_args(url: Any) -> tuple[list[str], dict[str, str]]:
    args = ["--host", url.host or "localhost", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    env = {**os.environ, "PGPASSWORD": url.password or ""} if url.password else dict(os.environ)
    return args, env


def _my_args(url: Any, tmp: Path) -> list[str]:
    cnf = tmp / "client.cnf"
    lines = ["[client]", f"host={url.host or 'localhost'}", f"port={url.port or 3306}"]
    if url.username:
        lines.append(f"user={url.username}")
    if url.password:
        lines.append(f"password={url.password}")
    cnf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cnf.chmod(0o600)
    return [f"--defaults-extra-file={cnf}"]


def _run(args: list[str], what: str, **kw: Any) -> None:
    done = subprocess.run(args, capture_output=True, check=False, **kw)  # noqa: S603
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = next((m for m in message if "lock" in m.lower()), None)
        hint = " (is the site still running? stop it while restoring)" if detail else ""
        shown = detail or (message[-1] if message else done.returncode)
        raise BackupError(f"{what} failed: {shown}{hint}")


def _dump(engine: Any, kind: str, target: Path, tmp: Path) -> None:
    url = engine.url
    if kind == "sqlite":
        raw = engine.raw_connection()
        try:
            out = sqlite3.connect(target)
            try:
                raw.driver_connection.backup(out)
            finally:
                out.close()
        finally:
            raw.close()
    elif kind == "postgresql":
        args, env = _pg_args(url)
        tool = _tool("pg_dump", package="postgresql-client")
        _run(
            [tool, "--format=custom", "--no-owner", "--no-privileges", *args]
            + ["--file", str(target), url.database],
            "pg_dump",
            env=env,
        )
    else:
        tool = _tool("mariadb-dump", "mysqldump", package="mariadb-client")
        _run(
            [tool, *_my_args(url, tmp), "--single-transaction", "--routines", "--triggers"]
            + ["--no-tablespaces", f"--result-file={target}", url.database],
            "mariadb-dump",
        )


def _load(engine: Any, kind: str, source: Path, tmp: Path) -> None:
    url = engine.url
    engine.dispose()  # nothing of ours may hold a lock on the tables being replaced
    if kind == "sqlite":
        raw = engine.raw_connection()
        try:
            src = sqlite3.connect(source)
            try:
                src.backup(raw.driver_connection)
            finally:
                src.close()
        finally:
            raw.close()
    elif kind == "postgresql":
        args, env = _pg_args(url)
        # a connection still in a transaction (the running site) would block the restore
        # for good: give up after LOCK_WAIT seconds instead, with everything rolled back
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={LOCK_WAIT * 1000}"
        tool = _tool("pg_restore", package="postgresql-client")
        _run(
            [tool, "--clean", "--if-exists", "--no-owner", "--no-privileges"]
            + ["--single-transaction", *args, "--dbname", url.database, str(source)],
            "pg_restore",
            env=env,
        )
    else:
        tool = _tool("mariadb", "mysql", package="mariadb-client")
        with source.open("rb") as fh:
            init = f"--init-command=SET SESSION lock_wait_timeout={LOCK_WAIT}"
            _run([tool, *_my_args(url, tmp), init, url.database], "mariadb", stdin=fh)
    engine.dispose()


def backup(state: AvgState, output: str | Path, secret: Secret) -> dict[str, Any]:
    """Write an encrypted backup of the database and its ledger to ``output``."""
    engine = state.db.engine
    kind = _kind(engine)
    if kind == "sqlite" and not engine.url.database:
        raise BackupError("an in-memory SQLite database cannot be backed up")
    backup_id = uuid.uuid4().hex
    taken = [i for i in state.settings.get(TAKEN, []) if isinstance(i, str)]
    state.settings.set(TAKEN, [*taken, backup_id][-REMEMBERED:], actor=None)
    state.db.session.commit()
    with tempfile.TemporaryDirectory(prefix="avg-backup-") as name:
        tmp = Path(name)
        _dump(engine, kind, tmp / "database", tmp)
        # the ledger after the dump: every erasure the dump holds is in it
        entries = ledger.export(state, tmp / "ledger.jsonl")
        manifest = {
            "id": backup_id,
            "kind": kind,
            "created": utcnow().isoformat(),
            "ledger_entries": entries,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        with tarfile.open(tmp / "payload.tar", "w") as tar:
            for entry in NAMES:
                tar.add(tmp / entry, arcname=entry)
        seal(tmp / "payload.tar", Path(output), secret, manifest)
    state.audit.record("backup.made", detail={"id": backup_id, "ledger_entries": entries})
    state.db.session.commit()
    return manifest


def _entry_key(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    return (entry["model"], entry["key"], entry["action"], entry.get("at", ""))


def _live(state: AvgState, tmp: Path, backup_id: str) -> list[dict[str, Any]] | None:
    """The live database's ledger when it is the one the backup came from, else None."""
    engine = state.db.engine
    try:
        names = set(inspect(engine).get_table_names())
    except Exception:  # noqa: BLE001 - no database at all: nothing live to trust
        return None
    if ledger.LEDGER.name not in names or Setting.__tablename__ not in names:
        return None
    with engine.connect() as conn:
        raw = conn.scalar(select(Setting.value_json).where(Setting.key == TAKEN))
    if raw is None or backup_id not in json.loads(raw):
        return None
    state.db.session.rollback()
    ledger.export(state, tmp / "live.jsonl")
    state.db.session.rollback()
    return ledger.read(tmp / "live.jsonl")


def restore(
    state: AvgState,
    path: str | Path,
    secret: Secret,
    *,
    ledger_file: str | Path | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Restore the backup at ``path``, then replay every erasure recorded since."""
    engine = state.db.engine
    kind = _kind(engine)
    with tempfile.TemporaryDirectory(prefix="avg-restore-") as name:
        tmp = Path(name)
        info = open_box(Path(path), tmp / "payload.tar", secret)  # WrongKey: nothing changed
        with tarfile.open(tmp / "payload.tar") as tar:
            for part in NAMES:
                try:
                    member = tar.getmember(part)
                except KeyError:
                    member = None
                if member is None or not member.isfile():
                    raise BackupError("the backup's contents are damaged")
                with tar.extractfile(member) as src, (tmp / part).open("wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
        manifest = json.loads((tmp / "manifest.json").read_text(encoding="utf-8"))
        if manifest["kind"] != kind:
            raise BackupError(f"this is a backup of a {manifest['kind']} database, not of {kind}")
        taken = ledger.read(tmp / "ledger.jsonl")
        live = _live(state, tmp, manifest["id"])
        given = ledger.read(ledger_file) if ledger_file else None
        newer = {_entry_key(e) for e in (live or []) + (given or [])}
        if given is None and (live is None or not {_entry_key(e) for e in taken} <= newer):
            raise BackupError(
                "this database is not the one the backup was taken from (or has lost its "
                "erasure ledger), so the erasures made since the backup are unknown; give the "
                "ledger exported outside the database: flask avg restore FILE --ledger LEDGER"
            )
        merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for entry in taken + (live or []) + (given or []):
            merged.setdefault(_entry_key(entry), entry)
        ordered = sorted(merged.values(), key=lambda e: e.get("at", ""))
        with (tmp / "merged.jsonl").open("w", encoding="utf-8") as fh:
            for entry in ordered:
                fh.write(json.dumps(entry) + "\n")
        state.db.session.remove()
        _load(engine, kind, tmp / "database", tmp)
        if has_app_context():  # answers cached for this request describe the old database
            for cached in ("_avg_erased", "_avg_ledger_entries", "_avg_settings"):
                g.pop(cached, None)
        totals = ledger.replay(state, tmp / "merged.jsonl", actor=actor)
    state.audit.record(
        "backup.restored", actor=actor, detail={"id": manifest["id"], "replayed": totals}
    )
    state.db.session.commit()
    return {**info, "replayed": totals}
