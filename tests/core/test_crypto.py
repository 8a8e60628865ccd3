"""Encrypted columns: the example club's medical notes, on every database leg.

Values are stored as ``v2:<key id>:...`` ciphertext bound to table, column and row; a
wrong or missing key stops the app at start-up; ``flask avg rotate-keys`` moves
every value to the primary key in committed batches and finishes a killed run;
export, erasure and the inventory see the plaintext as before.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

import example_app
from example_app.models import Member, db
from flask_avg import AVG, ConfigurationError, Encrypted, SubjectMixin, personal
from flask_avg.core import crypto
from flask_avg.core.crypto import DecryptionError, EncryptedComparisonError, Keyring
from tests.support import ROOT
from tests.support.app import csrf_token, login, make_app
from tests.support.export import PASSWORD, give_login, read_json_rows
from tests.support.factories import full_member


def _key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


OLD = f"t1:{_key(1)}"
NEW = f"t2:{_key(2)}"
OTHER_T1 = f"t1:{_key(3)}"  # the id t1 with the wrong material


@contextmanager
def club(db_url: str, keys: str | None = None) -> Iterator[Flask]:
    """The example club with ``keys``, its context pushed; its connections closed after."""
    site = make_app(db_url, AVG_ENCRYPTION_KEYS=keys) if keys else make_app(db_url)
    with site.app_context():
        try:
            yield site
        finally:
            db.session.remove()
            db.engine.dispose()


def _raw_notes() -> list[str | None]:
    table = Member.__table__
    with db.engine.connect() as conn:
        stmt = select(crypto.raw(table.c.medical_notes)).order_by(table.c.id)
        return list(conn.execute(stmt).scalars())


def _seed(n: int) -> None:
    rows = [
        {
            "member_number": f"R{i:05d}",
            "first_name": "Lid",
            "last_name": f"Nummer {i}",
            "email": f"r{i}@example.org",
            "start_date": date(2020, 1, 1),
            "medical_notes": f"allergie {i}",
        }
        for i in range(n)
    ]
    db.session.execute(insert(Member), rows)
    db.session.commit()


def test_round_trip_stores_only_ciphertext(app, db_url):
    with club(db_url, OLD):
        built = full_member(1)
        db.session.commit()
        (stored,) = _raw_notes()
        assert stored is not None and stored.startswith("v2:t1:") and "medisch" not in stored
        db.session.expire_all()
        assert db.session.get(Member, built.member.id).medical_notes == "medisch 1"
        # the same plaintext encrypts differently every time (a fresh nonce)
        twin = full_member(2)
        twin.member.medical_notes = "medisch 1"
        db.session.commit()
        assert _raw_notes()[0] == stored and _raw_notes()[1] != stored
        db.session.remove()


def test_a_value_moved_to_another_column_or_altered_does_not_decrypt(app, db_url):
    other = sa.MetaData()
    elsewhere = sa.Table(
        "crypto_elsewhere",
        other,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notes", Encrypted()),
    )
    with club(db_url, OLD):
        built = full_member(1)
        db.session.commit()
        (stored,) = _raw_notes()
        other.create_all(db.engine)
        try:
            with db.engine.begin() as conn:
                conn.execute(insert(elsewhere).values(id=1, notes="eigen tekst"))
                conn.execute(insert(elsewhere).values(id=2).values(notes=None))
                conn.execute(
                    update(elsewhere)
                    .where(elsewhere.c.id == 2)
                    .values({"notes": sa.type_coerce(sa.literal(stored), sa.Text())})
                )
            with db.engine.connect() as conn:
                own = select(elsewhere.c.notes).where(elsewhere.c.id == 1)
                assert conn.execute(own).scalar() == "eigen tekst"
                moved = select(elsewhere.c.notes).where(elsewhere.c.id == 2)
                with pytest.raises(DecryptionError, match="moved from another column"):
                    conn.execute(moved).scalar()
        finally:
            other.drop_all(db.engine)
        # one character changed in the stored value: refused, never shown
        at = len("v2:t1:") + 30  # inside the ciphertext, past the nonce
        altered = stored[:at] + ("A" if stored[at] != "A" else "B") + stored[at + 1 :]
        table = Member.__table__
        with db.engine.begin() as conn:
            conn.execute(
                update(table).values(
                    {"medical_notes": sa.type_coerce(sa.literal(altered), sa.Text())}
                )
            )
        db.session.expire_all()
        with pytest.raises(DecryptionError):
            db.session.get(Member, built.member.id).medical_notes  # noqa: B018
        db.session.remove()


def test_a_wrong_or_unknown_key_refuses_to_start(app, db_url):
    with club(db_url, OLD):
        full_member(1)
        db.session.commit()
        db.session.remove()
    with pytest.raises(ConfigurationError, match=r"members\.medical_notes.*does not decrypt"):
        make_app(db_url, AVG_ENCRYPTION_KEYS=OTHER_T1)
    with pytest.raises(ConfigurationError, match="key 't1', which AVG_ENCRYPTION_KEYS does not"):
        make_app(db_url, AVG_ENCRYPTION_KEYS=NEW)
    with club(db_url, f"{NEW},{OLD}") as site:
        assert site.extensions["avg"].keyring.primary == "t2"


def test_a_missing_key_refuses_to_start(app, db_url, monkeypatch):
    monkeypatch.delenv("AVG_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setattr(example_app, "instance_encryption_keys", lambda _path: "")
    with pytest.raises(ConfigurationError, match=r"members\.medical_notes is encrypted but no"):
        make_app(db_url)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "holds no key"),
        ("nokey", "id:base64"),
        ("t1:not base64!", "not valid base64"),
        (f"t1:{base64.b64encode(b'short').decode()}", "5 bytes; AES-256 needs 32"),
        (f"{OLD},T1:{_key(4)}", "given twice"),
    ],
)
def test_malformed_keys_are_refused(spec, message):
    with pytest.raises(ConfigurationError, match=message):
        Keyring.parse(spec)


def test_filters_on_an_encrypted_column_are_refused(app):
    with pytest.raises(EncryptedComparisonError, match="cannot be used in SQL"):
        select(Member).where(Member.medical_notes == "astma")
    with pytest.raises(EncryptedComparisonError):
        select(Member).where(Member.medical_notes.like("%astma%"))
    with pytest.raises(EncryptedComparisonError):
        select(Member).order_by(Member.medical_notes.desc())
    assert db.session.scalars(select(Member).where(Member.medical_notes.is_(None))).all() == []


def _host(**column) -> tuple[SQLAlchemy, type]:
    """A one-model host; the caller keeps the model (the registry holds models weakly)."""
    database = SQLAlchemy()

    class Person(database.Model, SubjectMixin):
        __tablename__ = "people"
        id: Mapped[int] = mapped_column(primary_key=True)
        notes: Mapped[str | None] = mapped_column(**column)

    return database, Person


def _start(host_db: tuple[SQLAlchemy, type], keys: str | None = OLD) -> AVG:
    database = host_db[0]
    host = Flask(__name__)
    host.config.update(SECRET_KEY="t", SQLALCHEMY_DATABASE_URI="sqlite://")
    if keys:
        host.config["AVG_ENCRYPTION_KEYS"] = keys
    database.init_app(host)
    LoginManager(host)
    return AVG(host, database)


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        (
            {"type_": Encrypted(), "unique": True, "info": personal("health")},
            r"Person\.notes: an encrypted column cannot be unique",
        ),
        (
            {"type_": Encrypted(), "index": True, "info": personal("health")},
            r"Person\.notes: an encrypted column cannot be indexed",
        ),
        (
            {"type_": String(50), "info": personal("health", encrypted=True)},
            r"Person\.notes: declared encrypted but its type is VARCHAR\(50\)",
        ),
        (
            {"type_": Encrypted(), "nullable": False, "info": personal("health")},
            r"Person\.notes: erasure blanks an encrypted value to NULL",
        ),
        (
            {"type_": Encrypted(), "info": personal("health", anonymise="mask")},
            r"Person\.notes: anonymise='mask' writes a marker in plain text",
        ),
    ],
)
def test_unsafe_declarations_are_refused_with_the_reason(column, reason, monkeypatch):
    monkeypatch.delenv("AVG_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ConfigurationError, match=reason):
        _start(_host(**column))


def test_a_sound_declaration_starts(monkeypatch):
    monkeypatch.delenv("AVG_ENCRYPTION_KEYS", raising=False)
    avg = _start(_host(type_=Encrypted(), info=personal("health", encrypted=True)))
    assert avg is not None
    with pytest.raises(ConfigurationError, match="no key is set"):
        _start(_host(type_=Encrypted(), info=personal("health")), keys=None)


# -- the club's features see plaintext, as before ---------------------------------


def test_export_erasure_and_inventory_work_on_encrypted_notes(app, client):
    board, member = full_member(1), full_member(2)
    give_login(board, "board")
    give_login(member)
    db.session.commit()
    prefix = f"v2:{app.extensions['avg'].keyring.primary}:"
    assert all(v is not None and v.startswith(prefix) for v in _raw_notes())

    # the member's own export (self-service) holds the plaintext
    login(client, member.user.email, PASSWORD)
    token = csrf_token(client, "/avg/me/export")
    response = client.post("/avg/me/export", data={"format": "json", "csrf_token": token})
    assert response.status_code == 200
    rows = read_json_rows(json.loads(response.data))
    assert rows["Member"][(member.member.id,)]["medical_notes"] == "medisch 2"
    assert prefix not in response.get_data(as_text=True)
    client.post("/logout")

    # the inventory lists the column as declared personal data
    login(client, board.user.email, PASSWORD)
    page = client.get("/avg/inventory").get_data(as_text=True)
    assert 'data-column="medical_notes" data-status="personal"' in page

    # erasure (the member model is anonymised) blanks the encrypted value
    app.extensions["avg"].erase_subject(member.member.id, actor="cli")
    db.session.expire_all()
    assert db.session.get(Member, member.member.id).medical_notes is None
    assert db.session.get(Member, board.member.id).medical_notes == "medisch 1"


def test_check_lists_the_encrypted_column(app):
    result = app.test_cli_runner().invoke(args=["avg", "check"])
    assert result.exit_code == 0, result.output
    line = next(li for li in result.output.splitlines() if "medical_notes" in li)
    assert "special" in line and "encrypted" in line


# -- rotation ----------------------------------------------------------------------


def _worker(url: str, keys: str, size: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.rotate_worker", url, keys, str(size)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_rotation_killed_mid_run_then_rerun_ends_under_the_new_key(app, db_url):
    with club(db_url, OLD):
        _seed(40)
    both = f"{NEW},{OLD}"
    worker = _worker(db_url, both, 6)
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == "batch", worker.stderr.read() if worker.stderr else line
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        for stream in (worker.stdout, worker.stderr):
            if stream is not None:
                stream.close()
    assert worker.returncode == -signal.SIGKILL

    with club(db_url, both) as new_club:
        stored = _raw_notes()
        assert sum(v.startswith("v2:t2:") for v in stored) == 6  # one whole batch
        assert sum(v.startswith("v2:t1:") for v in stored) == 34
        result = new_club.test_cli_runner().invoke(args=["avg", "rotate-keys", "--batch-size", "7"])
        assert result.exit_code == 0, result.output
        assert "34 value(s) re-encrypted under key t2 in 1 column(s); 0 left" in result.output
        assert all(v.startswith("v2:t2:") for v in _raw_notes())
        again = new_club.test_cli_runner().invoke(args=["avg", "rotate-keys"])
        assert "0 value(s) re-encrypted" in again.output and again.exit_code == 0
        db.session.remove()

    # the old key can go now: the new one alone starts and reads every value
    with club(db_url, NEW):
        notes = db.session.scalars(select(Member.medical_notes).order_by(Member.id)).all()
        assert notes == [f"allergie {i}" for i in range(40)]
        db.session.remove()


def test_rotation_without_keys_is_refused_cleanly(app):
    runner = app.test_cli_runner()
    app.extensions["avg"].keyring = None
    result = runner.invoke(args=["avg", "rotate-keys"])
    assert result.exit_code == 1 and "no encryption keys" in result.output


def test_generate_key_prints_a_usable_key(app):
    result = app.test_cli_runner().invoke(args=["avg", "generate-key", "--id", "k7"])
    assert result.exit_code == 0
    ring = Keyring.parse(result.output.strip())
    assert ring.primary == "k7" and len(ring.keys["k7"]) == 32
    bad = app.test_cli_runner().invoke(args=["avg", "generate-key", "--id", "no spaces"])
    assert bad.exit_code == 2


def test_a_member_corrects_encrypted_notes_through_self_service(app):
    from flask_avg.features.self_service.field_policy import setting_key
    from tests.support.self_service import edit_data, logged_in, member_with_login

    app.extensions["avg"].settings.set(setting_key("Member", "medical_notes"), True)
    db.session.commit()
    built = member_with_login(1)
    client = logged_in(app.test_client(), built)
    page = client.get("/avg/me").get_data(as_text=True)
    assert "medisch 1" in page  # their own notes, decrypted
    response = client.post(
        "/avg/me/edit", data=edit_data(client, built, f_medical_notes="pinda-allergie")
    )
    assert response.status_code == 302
    (stored,) = _raw_notes()
    prefix = f"v2:{app.extensions['avg'].keyring.primary}:"
    assert stored.startswith(prefix) and "pinda" not in stored
    db.session.expire_all()
    assert db.session.get(Member, built.member.id).medical_notes == "pinda-allergie"
