"""Login accounts that other kept rows point to: the ledger records what really happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from flask import Flask
from sqlalchemy import insert, select

from flask_avg.extension import get_state
from flask_avg.features.retention import ledger
from flask_avg.features.retention.models import LedgerEntry
from flask_avg.features.retention.service import erase_subject, purge
from tests.support.linked_club import Account, board_notes, db, person, running


@pytest.fixture
def club(db_url: str) -> Iterator[Flask]:
    with running(db_url) as app:
        yield app


def _note(account_id: int) -> None:
    db.session.execute(insert(board_notes).values(written_by=account_id, text="notulen"))


def _ledger(model: str = "Account") -> set[tuple[str, str]]:
    rows = db.session.execute(
        select(LedgerEntry.key, LedgerEntry.action).where(LedgerEntry.model == model)
    )
    return {(key, action) for key, action in rows}


def test_login_account_kept_rows_point_to_is_anonymised_not_claimed_deleted(club, tmp_path):
    noted = person("noted", login=True)
    plain = person("plain", login=True)
    _note(noted.account_id)  # the board's own record of what this account wrote
    db.session.commit()
    noted_id, noted_account = noted.id, noted.account_id
    plain_id, plain_account = plain.id, plain.account_id
    state = get_state()

    result = erase_subject(state, noted_id)
    assert {o.model: o.count for o in result.removed} == {"Person": 1}
    anonymised = {o.model: o for o in result.anonymised}
    assert anonymised["Account"].count == 1
    assert "refer" in anonymised["Account"].reason or "verwijzen" in anonymised["Account"].reason
    db.session.expire_all()
    account = db.session.get(Account, noted_account)
    assert account.email == f"anon-{noted_account}@anon.invalid"
    # a secret: random, not the placeholder every anonymised account would share
    assert account.password_hash.startswith("anon-") and len(account.password_hash) == 37
    assert account.last_login is None
    assert _ledger() == {(str(noted_account), "anonymised")}
    assert ledger.is_erased(state, "Account", noted_account)  # the login guard still applies

    erase_subject(state, plain_id)
    assert db.session.get(Account, plain_account) is None
    assert _ledger() == {(str(noted_account), "anonymised"), (str(plain_account), "deleted")}
    path = tmp_path / "ledger.jsonl"
    ledger.export(state, path)
    exported = [json.loads(line) for line in path.read_text().splitlines()]
    accounts = {(e["key"], e["action"]) for e in exported if e["model"] == "Account"}
    assert accounts == _ledger()


def test_stale_account_kept_rows_point_to_stays_out_of_the_ledger(club):
    old = datetime(2020, 1, 1)
    kept = Account(email="noted@example.org", password_hash="x", last_login=old)
    stale = Account(email="stale@example.org", password_hash="x", last_login=old)
    db.session.add_all([kept, stale])
    db.session.flush()
    invited = Account(
        email="active@example.org",
        password_hash="x",
        last_login=datetime(2025, 6, 1),
        invited_by_id=stale.id,
    )
    db.session.add(invited)
    _note(kept.id)
    db.session.commit()
    kept_id, stale_id, invited_id = kept.id, stale.id, invited.id
    club.config["AVG_STALE_ACCOUNT_DAYS"] = 365

    result = purge(get_state(), date(2026, 1, 1))
    assert result.stale_accounts == 1
    db.session.expire_all()
    assert set(db.session.scalars(select(Account.id))) == {kept_id, invited_id}
    assert db.session.get(Account, invited_id).invited_by_id is None
    assert _ledger() == {(str(stale_id), "deleted")}
