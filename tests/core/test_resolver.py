"""The resolver finds exactly a subject's rows, one query per model, on every database."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from example_app.models import Invoice, Member, Payment, db
from flask_avg.extension import get_state
from tests.support.factories import full_member, message


def _keys(model: Any, rows: list[Any]) -> set[Any]:
    keys = {model.key_of(r) for r in rows}
    return {k[0] if len(k) == 1 else k for k in keys}


def test_rows_for_returns_exactly_the_members_rows(app):
    a, b = full_member(1), full_member(2)
    c = full_member(3)
    message(a, b)
    message(b, c)  # a is neither sender nor recipient
    message(c, a)
    db.session.commit()
    state = get_state()
    for built in (a, b, c):
        found = state.resolver.rows_for(db.session, built.member.id)
        got = {model.name: _keys(model, rows) for model, rows in found.items()}
        assert got == built.ids


def test_rows_come_in_stable_key_order_and_one_query_per_model(app):
    a = full_member(1)
    db.session.commit()
    member_id = a.member.id
    state = get_state()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = state.resolver.rows_for(db.session, member_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == len(list(state.registry))
    payments = next(rows for m, rows in found.items() if m.name == "Payment")
    assert [p.id for p in payments] == sorted(p.id for p in payments)


def test_unknown_subject_has_no_rows(app):
    full_member(1)
    db.session.commit()
    found = get_state().resolver.rows_for(db.session, 999_999)
    assert all(rows == [] for rows in found.values())


def test_set_based_form_selects_rows_of_many_subjects(app):
    a, b, c = full_member(1), full_member(2), full_member(3)
    db.session.commit()
    state = get_state()
    chosen = state.resolver.subjects_where(Member.first_name.in_(["Voornaam1", "Voornaam3"]))
    payment_model = state.registry.get(Payment)
    got = set(db.session.scalars(state.resolver.select_rows(payment_model, chosen)))
    assert {p.id for p in got} == a.ids["Payment"] | c.ids["Payment"]
    assert not {p.id for p in got} & b.ids["Payment"]


def test_owners_of_counts_people_behind_matching_rows(app):
    a, b, _c = full_member(1), full_member(2), full_member(3)
    db.session.commit()
    state = get_state()
    invoice_model = state.registry.get(Invoice)
    owners = db.session.scalars(
        state.resolver.owners_of(invoice_model, Invoice.number.in_(["1-1", "2-2"]))
    ).all()
    assert sorted(owners) == sorted([a.member.id, b.member.id])


def test_owners_of_correlates_through_every_hop(app):
    """A payment reaches its member through the invoice: only that member owns it."""
    a, _b = full_member(1), full_member(2)
    db.session.commit()
    state = get_state()
    payment_model = state.registry.get(Payment)
    owners = db.session.scalars(
        state.resolver.owners_of(payment_model, Payment.id.in_(a.ids["Payment"]))
    ).all()
    assert owners == [a.member.id]


def test_paths_follow_foreign_keys(app):
    registry = get_state().registry
    assert registry.subject.name == "Member"
    payment = registry.get("Payment")
    assert [h.dst.name for h in payment.path] == ["invoices", "members"]
    message_model = registry.get("Message")
    assert len(message_model.path) == 1 and len(message_model.path[0].pairs) == 2
    user = registry.get("User")
    assert [h.up for h in user.path] == [False]  # members.user_id points at users


def test_foreign_keys_are_enforced_on_every_leg(app):
    db.session.add(
        Invoice(
            member_id=424242,
            number="X-1",
            invoice_date=date(2024, 1, 1),
            description="orphan",
            amount=1,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
