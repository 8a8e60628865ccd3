"""``flask avg backup`` / ``flask avg restore``: erased members stay erased, on every leg."""

from __future__ import annotations

import shutil

import sqlalchemy as sa

from example_app.models import Invoice, Member, db
from flask_avg.core.models import Setting
from flask_avg.features.backup.box import header
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.service import erase_subject
from tests.support.factories import full_member

PASSPHRASE = "correct horse battery staple"
ENV = {"AVG_BACKUP_PASSPHRASE": PASSPHRASE}


def _members():
    db.session.expire_all()
    return {m.id: (m.first_name, m.email) for m in db.session.scalars(sa.select(Member))}


TOOLS = {"postgresql": "pg_dump", "mysql": "mariadb-dump", "mariadb": "mariadb-dump"}


def _invoices():
    rows = db.session.execute(sa.select(Invoice.id, Invoice.member_id, Invoice.description))
    return {i: (m, d) for i, m, d in rows}


def test_backup_erase_restore_keeps_the_erased_erased(app, tmp_path):
    tool = TOOLS.get(db.engine.dialect.name)
    if tool and not (shutil.which(tool) or shutil.which("mysqldump")):
        refused = app.test_cli_runner().invoke(
            args=["avg", "backup", "-o", str(tmp_path / "b")], env=ENV
        )
        assert refused.exit_code == 1 and "is not installed" in refused.output
        return  # CI installs the client tools (.ci/run), so there this leg runs in full
    built = [full_member(n) for n in range(1, 6)]
    db.session.commit()
    ids = [b.member.id for b in built]
    before = _members()
    invoices = _invoices()
    runner = app.test_cli_runner()
    out = tmp_path / "club.avgbak"
    made = runner.invoke(args=["avg", "backup", "-o", str(out)], env=ENV)
    assert made.exit_code == 0, made.output
    assert out.stat().st_mode & 0o777 == 0o600
    raw = out.read_bytes()
    assert b"Voornaam1" not in raw and b"m1@example.org" not in raw  # encrypted
    assert header(out)["kdf"]["name"] == "scrypt"

    state = app.extensions["avg"]
    erase_subject(state, ids[0], farewell=False)
    erase_subject(state, ids[3], farewell=False)
    # a change after the backup, which the restore takes back
    db.session.get(Member, ids[1]).first_name = "Gewijzigd"
    db.session.commit()

    restored = runner.invoke(args=["avg", "restore", str(out)], env=ENV)
    assert restored.exit_code == 0, restored.output
    after = _members()
    for erased in (ids[0], ids[3]):
        assert after.get(erased, ("anon",))[0] != before[erased][0]
        assert before[erased][1] not in {email for _, email in after.values()}
    kept = (ids[1], ids[2], ids[4])
    for member_id in kept:
        assert after[member_id] == before[member_id]
    kept_invoices = {k: v for k, v in invoices.items() if v[0] in kept}
    assert len(kept_invoices) == 6
    assert {k: v for k, v in _invoices().items() if v[0] in kept} == kept_invoices
    keys = set(db.session.scalars(sa.select(LedgerEntry.key)))
    assert {str(ids[0]), str(ids[3])} <= keys


def test_a_replaced_database_needs_the_exported_ledger(app, tmp_path):
    built = [full_member(n) for n in range(1, 4)]
    db.session.commit()
    ids = [b.member.id for b in built]
    runner = app.test_cli_runner()
    out = tmp_path / "club.avgbak"
    assert runner.invoke(args=["avg", "backup", "-o", str(out)], env=ENV).exit_code == 0
    erase_subject(app.extensions["avg"], ids[2], farewell=False)
    exported = tmp_path / "ledger.jsonl"
    assert runner.invoke(args=["avg", "export-ledger", "-o", str(exported)]).exit_code == 0
    # the database is lost: a fresh one knows neither the backup nor the erasure
    db.session.execute(sa.delete(LedgerEntry))
    db.session.execute(sa.delete(Setting).where(Setting.key == "backup.taken"))
    db.session.commit()

    refused = runner.invoke(args=["avg", "restore", str(out)], env=ENV)
    assert refused.exit_code == 1
    assert "--ledger" in refused.output
    assert db.session.get(Member, ids[2]).first_name == "anon"  # nothing was restored

    done = runner.invoke(args=["avg", "restore", str(out), "--ledger", str(exported)], env=ENV)
    assert done.exit_code == 0, done.output
    db.session.expire_all()
    assert db.session.get(Member, ids[2]).first_name == "anon"
    assert db.session.get(Member, ids[1]).first_name == "Voornaam2"


def test_a_wrong_passphrase_refuses_cleanly(app, tmp_path):
    full_member(1)
    db.session.commit()
    runner = app.test_cli_runner()
    out = tmp_path / "club.avgbak"
    assert runner.invoke(args=["avg", "backup", "-o", str(out)], env=ENV).exit_code == 0
    wrong = runner.invoke(
        args=["avg", "restore", str(out)], env={"AVG_BACKUP_PASSPHRASE": "not the passphrase"}
    )
    assert wrong.exit_code == 1
    assert "wrong passphrase or key" in wrong.output
    assert "Traceback" not in wrong.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 1
    short = runner.invoke(
        args=["avg", "backup", "-o", str(tmp_path / "b")], env={"AVG_BACKUP_PASSPHRASE": "short"}
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    phrase = tmp_path / "passphrase"
    phrase.write_text(PASSPHRASE + "\n")
    from_file = runner.invoke(args=["avg", "restore", str(out), "--passphrase-file", str(phrase)])
    assert from_file.exit_code == 0, from_file.output


def test_a_key_file_and_a_damaged_file(app, tmp_path):
    full_member(1)
    db.session.commit()
    key = tmp_path / "backup.key"
    key.write_text("ab" * 32)
    runner = app.test_cli_runner()
    out = tmp_path / "club.avgbak"
    made = runner.invoke(args=["avg", "backup", "-o", str(out), "--key-file", str(key)])
    assert made.exit_code == 0, made.output
    data = bytearray(out.read_bytes())
    data[-5] ^= 1
    (tmp_path / "damaged.avgbak").write_bytes(bytes(data))
    damaged = runner.invoke(
        args=["avg", "restore", str(tmp_path / "damaged.avgbak"), "--key-file", str(key)]
    )
    assert damaged.exit_code == 1 and "Traceback" not in damaged.output
    with_phrase = runner.invoke(args=["avg", "restore", str(out)], env=ENV)
    assert with_phrase.exit_code == 1 and "made with a key" in with_phrase.output
    ok = runner.invoke(args=["avg", "restore", str(out), "--key-file", str(key)])
    assert ok.exit_code == 0, ok.output
