"""The audit log screen and the dashboard: filters, pagination, purge record, panels, ACL."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import insert, select

from example_app.demo import seed
from example_app.models import User, db
from flask_avg.core.dashboard import DashboardPanel
from flask_avg.core.models import AuditEntry
from flask_avg.extension import get_state
from tests.support.app import login


def _entries(n: int, **values) -> None:
    base = {"outcome": "ok", "action": "members.view", "actor": "2", "subject": "7"}
    base.update(values)
    db.session.execute(
        insert(AuditEntry),
        [{**base, "at": datetime(2026, 1, 1 + i % 28, 12, tzinfo=UTC)} for i in range(n)],
    )
    db.session.commit()


def test_filters_and_pages(app: Flask, client):
    seed(n_members=3)
    board = db.session.scalars(select(User).where(User.email == "bestuur@example.org")).one()
    _entries(60, actor=str(board.id))
    _entries(5, action="self.view", actor="1", subject="9")
    _entries(
        1, action="audit.purge", actor=str(board.id), subject=None, detail_json='{"removed": 120}'
    )
    login(client, "bestuur@example.org")
    page = client.get("/avg/audit").get_data(as_text=True)
    assert "Page 1 of 2" in page or "Pagina 1 van 2" in page
    assert 'rel="next"' in page
    only = client.get("/avg/audit?action=self.view").get_data(as_text=True)
    assert only.count('data-action="self.view"') == 5 and 'data-action="members.view"' not in only
    by_member = client.get("/avg/audit?subject=9").get_data(as_text=True)
    assert by_member.count("<tr data-action=") == 5
    by_mail = client.get("/avg/audit?actor=bestuur@example.org&action=members.view&page=2")
    assert by_mail.get_data(as_text=True).count('data-action="members.view"') == 10
    dated = client.get("/avg/audit?action=members.view&from=2026-01-02&to=2026-01-03")
    # 60 entries over days 1..28: days 2 and 3 hold 3 and 2 (i = 1, 29, 57 and 2, 30, 58 ...)
    assert dated.get_data(as_text=True).count('data-action="members.view"') == 6
    assert "730" in page  # the retention setting
    purge_part = page[page.index("avg-purges") :]
    assert "bestuur@example.org" in purge_part and "Verwijderd: 120" in purge_part


def test_members_cannot_read_the_audit_log(app, client):
    seed(n_members=3)
    login(client, "lid@example.org")
    assert client.get("/avg/audit").status_code == 403
    db.session.commit()  # end the test's snapshot: the denial was written in its own transaction
    denied = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.outcome == "denied", AuditEntry.action == "avg.audit.view"
        )
    ).all()
    assert len(denied) == 1


def test_dashboard_shows_other_features_panels_by_permission(app, client):
    seed(n_members=3)
    state = get_state()
    state.dashboard.append(
        DashboardPanel(
            "requests",
            "Open requests",
            "avg/accountability/panel_consent.html",
            lambda s: {"counts": [], "outdated": 0},
            "avg.requests.handle",
            order=10,
        )
    )
    state.dashboard.append(
        DashboardPanel(
            "acl",
            "ACL only",
            "avg/accountability/panel_consent.html",
            lambda s: {"counts": [], "outdated": 0},
            "avg.acl.manage",
        )
    )
    login(client, "bestuur@example.org")
    page = client.get("/avg/dashboard").get_data(as_text=True)
    keys = [k for k in ("requests", "breaches", "consent", "acl") if f'id="avg-panel-{k}"' in page]
    assert keys == ["requests", "breaches", "consent"]  # in order; the board lacks acl.manage
