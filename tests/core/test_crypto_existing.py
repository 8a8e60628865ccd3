"""``flask avg encrypt-existing``: plain text left in a column declared encrypted after
it held data is sealed to its rows, in committed batches, on every database leg.

The app starts on such a column (it logs the plain text, never shows it); the command
finishes a killed run when run again, touches nothing twice, leaves values that look
like encrypted values alone and says so, and refuses a column too narrow for one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from example_app.models import Member, db
from flask_avg.core import crypto
from flask_avg.core.crypto import CryptoError, DecryptionError
from tests.core.test_crypto import OLD, _raw_notes, club
from tests.support import ROOT

LOOKALIKE = "v2: lijkt op een versleutelde waarde"

#: a run in a process of its own that prints after its first batch and waits to be killed
KILLED_RUN = """
import sys, threading
from example_app import create_app
from flask_avg.core import crypto

url, keys, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "AVG_ENCRYPTION_KEYS": keys})
never = threading.Event()

def after_batch(_n):
    print("batch", flush=True)
    never.wait()

with app.app_context():
    state = app.extensions["avg"]
    for item in crypto.rotation_plan(state.db):
        crypto.encrypt_column(item, state.keyring, batch_size=size, on_batch=after_batch)
"""


def _plain_members(n: int) -> list[int]:
    """Members whose medical notes were written before the column was encrypted."""
    members = [
        Member(
            member_number=f"P{i:03d}",
            first_name="Lid",
            last_name=f"Nummer {i}",
            email=f"p{i}@example.org",
            start_date=date(2020, 1, 1),
        )
        for i in range(n)
    ]
    db.session.add_all(members)
    db.session.commit()
    ids = [m.id for m in members]
    with db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE members SET medical_notes = :v WHERE id = :id"),
            [{"v": f"plain {i} | 100% waar", "id": key} for i, key in enumerate(ids)],
        )
    db.session.remove()
    return ids


def _killed_run(url: str, size: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, url, OLD, str(size)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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


def test_plain_text_is_encrypted_in_batches_resumably_and_once(app, db_url, caplog):
    with club(db_url, OLD):
        ids = _plain_members(12)
    # the app starts on plain text, and never shows it
    with caplog.at_level("WARNING", logger="flask_avg.core.crypto"), club(db_url, OLD):
        assert "members.medical_notes holds plain text" in caplog.text
        with pytest.raises(DecryptionError, match="plaintext"):
            db.session.get(Member, ids[0]).medical_notes  # noqa: B018
        db.session.remove()

    _killed_run(db_url, 5)
    with club(db_url, OLD) as site:
        stored = _raw_notes()
        assert sum(v.startswith("v2:t1:") for v in stored) == 5  # one whole batch
        assert sum(v.startswith("plain ") for v in stored) == 7
        with db.engine.begin() as conn:  # a plain text that starts like an encrypted value
            conn.execute(
                sa.text("UPDATE members SET medical_notes = :v WHERE id = :id"),
                {"v": LOOKALIKE, "id": ids[-1]},
            )
        runner = site.test_cli_runner()
        result = runner.invoke(args=["avg", "encrypt-existing", "--batch-size", "4"])
        assert "6 plain-text value(s) encrypted under key t1 in 1 column(s); 0 left" in (
            result.output
        )
        assert "members.medical_notes: 1 value(s) start like an encrypted value" in result.output
        assert result.exit_code == 1
        stored = _raw_notes()
        assert sum(v.startswith("v2:t1:") for v in stored) == 11 and LOOKALIKE in stored
        # every value is bound to its own row and reads as it was
        with db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE members SET medical_notes = :v WHERE id = :id"),
                {"v": "lijkt er niet meer op", "id": ids[-1]},
            )
        again = runner.invoke(args=["avg", "encrypt-existing"])
        assert again.exit_code == 0, again.output
        assert "1 plain-text value(s) encrypted" in again.output
        db.session.rollback()
        notes = db.session.scalars(select(Member.medical_notes).order_by(Member.id)).all()
        assert notes == [f"plain {i} | 100% waar" for i in range(11)] + ["lijkt er niet meer op"]
        assert all(v.startswith("v2:t1:") for v in _raw_notes())
        # idempotent: nothing left to do, nothing rewritten
        before = _raw_notes()
        third = runner.invoke(args=["avg", "encrypt-existing"])
        assert third.exit_code == 0 and "0 plain-text value(s) encrypted" in third.output
        assert _raw_notes() == before
        db.session.remove()


def test_a_column_too_narrow_for_encrypted_values_is_refused(app, db_url):
    other = sa.MetaData()
    narrow = sa.Table(
        "crypto_narrow",
        other,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notes", sa.String(40)),
    )
    declared = sa.Table(
        "crypto_narrow",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notes", crypto.Encrypted()),
    )
    with club(db_url, OLD) as site:
        other.create_all(db.engine)
        try:
            with db.engine.begin() as conn:
                conn.execute(sa.insert(narrow), [{"id": 1, "notes": "astma"}])
            item = crypto.RotationColumn(declared.c.notes, db.engine)
            assert crypto.plaintext_pending(item) == 1
            with pytest.raises(CryptoError, match="widen it to TEXT first"):
                crypto.encrypt_column(item, site.extensions["avg"].keyring)
            with db.engine.connect() as conn:  # nothing was written
                assert conn.execute(select(narrow.c.notes)).scalar_one() == "astma"
        finally:
            other.drop_all(db.engine)
        db.session.remove()


def test_encrypt_existing_without_keys_is_refused_cleanly(app):
    app.extensions["avg"].keyring = None
    result = app.test_cli_runner().invoke(args=["avg", "encrypt-existing"])
    assert result.exit_code == 1 and "no encryption keys" in result.output
