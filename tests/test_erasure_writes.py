"""Writes for a person and their erasure take turns: nothing lands on an erased person."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from example_app import avg
from example_app.models import db
from flask_avg.core.subjects import SubjectErased, lock_subject
from flask_avg.extension import get_state
from flask_avg.features.consent.models import ConsentRecord
from flask_avg.features.requests import service as reqs
from flask_avg.features.retention.service import erase_subject

from .selfservice_helpers import member_with_login


def _count(model: Any, *where: Any) -> int:
    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_python_api_refuses_writes_for_an_erased_member(app):
    state = get_state()
    a, b = member_with_login(1), member_with_login(2)
    member_id, key = a.member.id, str(a.member.id)
    req = reqs.file_request(state, member_id, "restriction", user_id="1")
    erase_subject(state, member_id, actor="board")
    with pytest.raises(SubjectErased) as caught:
        avg.record_consent(member_id, "newsletter", given=True)
    assert isinstance(caught.value, LookupError) and caught.value.key == member_id
    db.session.rollback()
    with pytest.raises(SubjectErased):
        reqs.file_request(state, member_id, "objection", user_id="1", purpose="newsletter")
    db.session.rollback()
    req = db.session.get(reqs.DataRequest, req.id)
    assert req.status == "closed"  # closed by the erasure
    with pytest.raises(SubjectErased):
        reqs.change_status(state, req, "in_progress", actor="board")
    db.session.rollback()
    assert _count(ConsentRecord, ConsentRecord.subject == key) == 0
    assert [r.status for r in reqs.requests_of(state, key)] == ["closed"]
    # another member, and a key no member ever had, are not refused
    avg.record_consent(b.member.id, "newsletter", given=True)
    reqs.file_request(state, 999, "restriction", user_id="9")
    assert avg.has_consent(b.member.id, "newsletter")
    # the erasure itself may run again (a later purge, a replay)
    assert lock_subject(state, member_id, allow_erased=True) is True
    db.session.rollback()
