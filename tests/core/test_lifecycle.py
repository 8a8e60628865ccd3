"""One subject lifecycle through every plugin, whatever route erased the person.

A member with data in every feature (requests with messages and a restriction,
consents with an IP address, ACL memberships, audit entries, the club's photo
file) is erased, once by ``erase_subject`` and once by the retention purge.
Afterwards nothing of them remains in flask-avg's tables except what a plugin
declared as held (with its reason), and the photo file is gone. It holds with
every subset of blueprints mounted: ``AVG_BLUEPRINTS`` decides pages, not data.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from example_app.models import Member, User, db
from example_app.photos import photo_dir, save_photo
from flask_avg.core.config import DEFAULTS
from flask_avg.core.models import AvgBase
from flask_avg.extension import get_state
from flask_avg.features.acl.models import Group, GroupMember
from flask_avg.features.consent.models import ConsentRecord, ConsentState
from flask_avg.features.requests.models import DataRequest, ProcessingLimit
from flask_avg.features.requests.service import file_request
from tests.support.app import make_app
from tests.support.factories import full_member

BLUEPRINTS = DEFAULTS["BLUEPRINTS"][0]
#: tables that may still name an erased person's key, because a plugin declared a hold
HELD = {"avg_audit_log", "avg_consent_record", "avg_request", "avg_erasure_ledger"}
#: columns flask-avg's own tables refer to people by
PERSON_COLUMNS = ("subject", "user_id", "key", "actor")


def _with_data(app: Flask, n: int, *, ended: date | None = None) -> tuple[int, int]:
    """A member with data in every feature; returns (member id, login id)."""
    built = full_member(n)
    built.member.end_date = ended
    board = db.session.scalars(sa.select(Group).where(Group.key == "board")).one()
    db.session.add(GroupMember(user_id=str(built.user.id), group_id=board.id))
    db.session.commit()
    state = get_state()
    member_id, user_id = built.member.id, built.user.id
    file_request(state, member_id, "restriction", user_id=str(user_id), message="Mijn verhaal")
    file_request(state, member_id, "erasure", user_id=str(user_id), message="Weg ermee")
    db.session.add(ProcessingLimit(subject=str(member_id), kind="restriction"))
    app.config["AVG_CONSENT_RECORD_IP"] = True
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        member = db.session.get(Member, member_id)
        state.ext.record_consent(member, "newsletter", given=True, method="self_service")
    db.session.commit()
    save_photo(member_id, "<svg/>")
    return member_id, user_id


def _left_behind(member_id: int, user_id: int) -> dict[str, int]:
    """Rows of flask-avg's tables, outside the held ones, that still name the person."""
    found: dict[str, int] = {}
    with db.engine.connect() as conn:
        for table in AvgBase.metadata.sorted_tables:
            if table.name in HELD:
                continue
            cols = [table.c[c] for c in PERSON_COLUMNS if c in table.c]
            if not cols:
                continue
            names = [str(member_id), str(user_id)]
            cond = sa.or_(*(c.in_(names) for c in cols))
            count = conn.scalar(sa.select(sa.func.count()).select_from(table).where(cond))
            if count:
                found[table.name] = int(count)
    return found


def _assert_gone(member_id: int, user_id: int) -> None:
    db.session.rollback()
    assert _left_behind(member_id, user_id) == {}
    key = str(member_id)
    assert not db.session.scalars(sa.select(ConsentState).where(ConsentState.subject == key)).all()
    records = db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.subject == key))
    assert [r.ip for r in records] == [None]  # the proof stays, without the address
    requests = db.session.scalars(sa.select(DataRequest).where(DataRequest.subject == key)).all()
    assert requests and all(r.message is None and not r.is_open for r in requests)
    assert not db.session.scalars(
        sa.select(ProcessingLimit).where(ProcessingLimit.subject == key)
    ).all()
    assert not db.session.scalars(
        sa.select(GroupMember).where(GroupMember.user_id == str(user_id))
    ).all()
    assert db.session.get(User, user_id) is None
    member = db.session.get(Member, member_id)
    assert member is None or not member.first_name.startswith("Voornaam")
    assert not list(photo_dir().glob(f"{member_id}.*"))


def test_erase_subject_reaches_every_plugin_and_says_what_is_held(app):
    member_id, user_id = _with_data(app, 1)
    assert (photo_dir() / f"{member_id}.svg").exists()
    result = get_state().erase_subject(member_id, actor="7")
    _assert_gone(member_id, user_id)
    removed = {o.model: o.count for o in result.removed}
    assert removed["consent"] == 1 and removed["acl_groups"] == 1
    assert removed["processing_limits"] == 1
    held = {o.model: o for o in result.retained}
    for name in ("audit_log", "consent_records", "requests"):
        assert held[name].count >= 1 and held[name].reason, name
    assert held["audit_log"].until is not None


def test_the_purge_reaches_every_plugin(app):
    long_ago = date.today() - timedelta(days=365 * 20)
    member_id, user_id = _with_data(app, 1, ended=long_ago)
    stays_id, stays_user = _with_data(app, 2)  # a current member keeps everything
    result = get_state().purge()
    _assert_gone(member_id, user_id)
    assert result.plugin_erased["consent.consent"] == 1
    assert result.plugin_erased["acl.acl_groups"] == 1
    assert (photo_dir() / f"{stays_id}.svg").exists()
    assert _left_behind(stays_id, stays_user)["avg_group_member"] == 1


#: the blueprint subsets are checked in this many parts (each a test of its own)
PARTS = 4


@pytest.mark.parametrize("part", range(PARTS))
@pytest.mark.parametrize("route", ["erase", "purge"])
def test_every_subset_of_blueprints_erases_the_same(db_url, route, part, tmp_path: Path):
    """``AVG_BLUEPRINTS`` mounts pages; what erasure does never depends on it.

    All 128 subsets on SQLite; on the server legs (where the SQL is what differs,
    and each new app compiles its statements afresh) none, all, and each one
    left out. The subsets come in ``PARTS`` parts, so test workers share them.
    """
    subsets = [
        combo
        for size in range(len(BLUEPRINTS) + 1)
        for combo in itertools.combinations(BLUEPRINTS, size)
    ]
    assert len(subsets) == 2 ** len(BLUEPRINTS)
    if not db_url.startswith("sqlite"):
        subsets = [
            (),
            BLUEPRINTS,
            *(tuple(b for b in BLUEPRINTS if b != out) for out in BLUEPRINTS),
        ]
    subsets = subsets[part::PARTS]
    first = make_app(db_url, CLUB_PHOTO_DIR=str(tmp_path))
    from tests.support.app import reset_schema

    reset_schema(first)
    long_ago = date.today() - timedelta(days=365 * 20)
    try:
        for n, subset in enumerate(subsets, start=1):
            app = make_app(db_url, AVG_BLUEPRINTS=subset, CLUB_PHOTO_DIR=str(tmp_path))
            with app.app_context():
                ended = long_ago if route == "purge" else None
                member_id, user_id = _with_data(app, n, ended=ended)
                if route == "erase":
                    get_state().erase_subject(member_id)
                else:
                    get_state().purge()
                _assert_gone(member_id, user_id)
                db.session.remove()
                db.engine.dispose()  # each app has an engine of its own
    finally:
        with first.app_context():
            db.session.remove()
            db.drop_all()
            AvgBase.metadata.drop_all(db.engine)
            db.engine.dispose()


def test_a_new_account_reusing_an_erased_id_starts_with_no_groups(app):
    member_id, user_id = _with_data(app, 1)
    state = get_state()
    get_state().erase_subject(member_id)
    db.session.add(User(id=user_id, email="nieuw@example.org", password_hash="x", active=True))
    db.session.commit()
    newcomer = db.session.get(User, user_id)
    assert not db.session.scalars(
        sa.select(GroupMember).where(GroupMember.user_id == str(user_id))
    ).all()
    assert not state.can("avg.members.view", newcomer)
    assert not state.can("avg.audit.view", newcomer)
