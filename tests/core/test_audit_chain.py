"""The audit log's hash chain, on every database leg: each kind of tampering is found
at the right entry, two writers at once never fork it, and the retention purge
leaves a checkpoint so the rest still verifies."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete, func, insert, select, update

from example_app.models import db
from flask_avg.core.audit import GENESIS, chain_head, link
from flask_avg.core.models import AuditEntry
from flask_avg.features.audit import chain

LOG = AuditEntry.__table__


def _write(app, n: int, prefix: str = "test.action") -> list[int]:
    audit = app.extensions["avg"].audit
    for i in range(n):
        audit.record(f"{prefix}{i}", subject=i, detail={"n": i})
    db.session.commit()
    return _ids()


def _ids() -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def _verify(head=None) -> chain.Verification:
    db.session.rollback()
    return chain.verify(db.session, head)


def _raw(sql) -> None:
    """Tampering straight in the database, past the ORM's append-only guard."""
    with db.engine.begin() as conn:
        conn.execute(sql)


def test_every_way_of_writing_is_chained_and_verifies(app):
    audit = app.extensions["avg"].audit
    audit.record("member.edit", subject=1, fields=["email"], detail={"count": 1})
    db.session.commit()
    audit.denied("avg.audit.view", detail={"endpoint": "x"})
    audit.login_failed(login="nobody@example.org")
    audit.record("member.view", subject=2)
    db.session.commit()
    entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert len(entries) == 4
    assert entries[0].prev_hash == GENESIS
    for before, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == before.hash
        assert entry.hash == link(entry.prev_hash, entry)
    result = _verify()
    assert result.ok and result.checked == 4
    assert chain_head() == {
        "id": entries[-1].id,
        "hash": entries[-1].hash,
        "at": entries[-1].at.isoformat(),
    }
    out = app.test_cli_runner().invoke(args=["avg", "audit", "verify"])
    assert out.exit_code == 0 and "audit chain intact: 4 entries" in out.output


def test_an_edited_entry_is_found(app):
    ids = _write(app, 6)
    _raw(update(LOG).where(LOG.c.id == ids[2]).values(subject="someone else"))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("edited", ids[2])
    out = app.test_cli_runner().invoke(args=["avg", "audit", "verify"])
    assert out.exit_code == 1
    assert f"entry {ids[2]} was edited" in out.output


def test_an_edited_time_is_found_even_on_the_last_entry(app):
    ids = _write(app, 3)
    _raw(update(LOG).where(LOG.c.id == ids[-1]).values(at=datetime(2020, 1, 1, tzinfo=UTC)))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("edited", ids[-1])


def test_a_removed_entry_is_found(app):
    ids = _write(app, 6)
    _raw(delete(LOG).where(LOG.c.id == ids[3]))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("removed", ids[4])


def test_a_removed_first_entry_is_found(app):
    ids = _write(app, 3)
    _raw(delete(LOG).where(LOG.c.id == ids[0]))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("removed", ids[1])


def _spread(ids: list[int]) -> list[int]:
    """Ids 10, 20, 30, ...: room to insert between entries."""
    for old in reversed(ids):
        _raw(update(LOG).where(LOG.c.id == old).values(id=old * 10 + 1000))
    return [i * 10 + 1000 for i in ids]


@pytest.mark.parametrize("forged", [True, False])
def test_an_inserted_entry_is_found(app, forged):
    ids = _spread(_write(app, 5))
    db.session.rollback()  # a fresh snapshot (MariaDB reads repeatably within one)
    third = db.session.get(AuditEntry, ids[2])
    values = {
        "id": ids[2] + 5,
        "at": third.at,
        "actor": "1",
        "action": "member.view",
        "outcome": "ok",
        "subject": "2",
    }
    # forged: the intruder knows the algorithm and links the row to its predecessor
    values["prev_hash"] = third.hash if forged else None
    values["hash"] = link(third.hash, values) if forged else None
    _raw(insert(LOG).values(values))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("inserted", ids[2] + 5)


def test_reordered_entries_are_found(app):
    ids = _write(app, 6)
    a, b = ids[2], ids[3]
    _raw(update(LOG).where(LOG.c.id == a).values(id=99_999))
    _raw(update(LOG).where(LOG.c.id == b).values(id=a))
    _raw(update(LOG).where(LOG.c.id == 99_999).values(id=b))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("reordered", a)


def test_the_exported_head_catches_a_truncated_or_rewritten_chain(app, tmp_path):
    ids = _write(app, 4)
    head_file = tmp_path / "head.json"
    runner = app.test_cli_runner()
    out = runner.invoke(args=["avg", "audit", "head", "-o", str(head_file)])
    assert out.exit_code == 0
    head = json.loads(head_file.read_text())
    assert head["id"] == ids[-1]
    _write(app, 2, prefix="later.")  # the chain grows on: the head is still in it
    assert _verify(head).ok
    # the last entries dropped: the chain alone still looks whole
    _raw(delete(LOG).where(LOG.c.id >= ids[-1]))
    assert _verify().ok
    result = _verify(head)
    assert (result.problem.kind, result.problem.entry) == ("head", ids[-1])
    out = runner.invoke(args=["avg", "audit", "verify", "--head", str(head_file)])
    assert out.exit_code == 1 and "not in the chain" in out.output
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    out = runner.invoke(args=["avg", "audit", "verify", "--head", str(junk)])
    assert out.exit_code == 1 and "is not an audit chain head" in out.output


def test_entries_from_before_the_chain_are_counted_not_checked(app):
    _raw(insert(LOG).values(at=datetime(2020, 1, 1, tzinfo=UTC), action="old.entry", outcome="ok"))
    _write(app, 2)
    result = _verify()
    assert result.ok and (result.legacy, result.checked) == (1, 2)


def test_the_audit_purge_leaves_a_checkpoint_and_the_chain_verifies(app):
    old = datetime.now(UTC) - timedelta(days=800)
    with time_machine.travel(old, tick=False):
        _write(app, 3, prefix="old.")
    kept = _write(app, 2, prefix="new.")[3:]
    app.extensions["avg"].purge()
    db.session.commit()
    entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.action for e in entries][:2] == ["new.0", "new.1"]
    assert [e.id for e in entries][:2] == kept
    checkpoint = next(e for e in entries if e.action == chain.CHECKPOINT)
    assert checkpoint.detail["removed"] == 3
    assert checkpoint.detail["last_hash"] == entries[0].prev_hash
    assert _verify().ok
    # an entry removed after the purge is still found
    _raw(delete(LOG).where(LOG.c.id == kept[0]))
    result = _verify()
    assert (result.problem.kind, result.problem.entry) == ("removed", kept[1])


def test_two_writers_at_once_never_fork_the_chain(app):
    n = 25
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def orm_writer() -> None:
        try:
            with app.app_context():
                start.wait()
                audit = app.extensions["avg"].audit
                for i in range(n):
                    audit.record("orm.write", subject=i)
                    db.session.commit()
                db.session.remove()
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    def core_writer() -> None:
        try:
            with app.app_context():
                start.wait()
                audit = app.extensions["avg"].audit
                for i in range(n):
                    audit.denied("core.write", subject=i)
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    threads = [threading.Thread(target=orm_writer), threading.Thread(target=core_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.rollback()
    count = db.session.scalar(select(func.count()).select_from(AuditEntry))
    prevs = db.session.scalars(select(AuditEntry.prev_hash)).all()
    assert count == 2 * n and len(set(prevs)) == 2 * n  # no two entries share a predecessor
    result = _verify()
    assert result.ok and result.checked == 2 * n


def test_the_ledger_export_writes_the_chain_head_beside_it(app, tmp_path):
    ids = _write(app, 2)
    ledger = tmp_path / "ledger.jsonl"
    out = app.test_cli_runner().invoke(args=["avg", "export-ledger", "-o", str(ledger)])
    assert out.exit_code == 0, out.output
    head = json.loads((tmp_path / "ledger.jsonl.audit-head.json").read_text())
    assert head["id"] == ids[-1] and _verify(head).ok
