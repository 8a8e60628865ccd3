"""Builds members with rows in every related model, for exact-match assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from example_app.models import (
    Invoice,
    Member,
    Message,
    Payment,
    SignUp,
    Team,
    User,
    db,
    team_members,
)


@dataclass
class Built:
    member: Member
    user: User
    ids: dict[str, set[Any]] = field(default_factory=dict)


def full_member(n: int, team: Team | None = None) -> Built:
    """A member with a login, 2 invoices (one paid twice), a sign-up, a team role, messages."""
    user = User(email=f"m{n}@example.org", password_hash="x", active=True)
    db.session.add(user)
    db.session.flush()
    member = Member(
        user_id=user.id,
        member_number=f"T{n:04d}",
        first_name=f"Voornaam{n}",
        last_name=f"Achternaam{n}",
        birth_date=date(1990, 1, n % 28 + 1),
        email=f"m{n}@example.org",
        phone=f"06-{n:08d}",
        street="Dorpsstraat 1",
        postcode="3511 AB",
        city="Utrecht",
        iban="NL91ABNA0417164300",
        start_date=date(2015, 3, 1),
        end_date=None,
        medical_notes=f"medisch {n}",
    )
    db.session.add(member)
    db.session.flush()
    built = Built(member, user)
    inv1 = Invoice(
        member_id=member.id,
        number=f"{n}-1",
        invoice_date=date(2020, 1, 15),
        description="Contributie 2020",
        amount=Decimal("120.00"),
    )
    inv2 = Invoice(
        member_id=member.id,
        number=f"{n}-2",
        invoice_date=date(2021, 1, 15),
        description="Contributie 2021",
        amount=Decimal("125.50"),
    )
    db.session.add_all([inv1, inv2])
    db.session.flush()
    pays = [
        Payment(
            invoice_id=inv1.id, paid_on=date(2020, 2, 1), amount=Decimal("60"), iban_used="NL1"
        ),
        Payment(
            invoice_id=inv1.id, paid_on=date(2020, 3, 1), amount=Decimal("60"), iban_used="NL1"
        ),
        Payment(invoice_id=inv2.id, paid_on=date(2021, 2, 1), amount=Decimal("125.5")),
    ]
    signup = SignUp(member_id=member.id, signed_up_on=date(2015, 2, 1), kind="lidmaatschap")
    db.session.add_all([*pays, signup])
    db.session.flush()
    team = team or Team(name=f"Team {n}")
    db.session.add(team)
    db.session.flush()
    db.session.execute(
        team_members.insert().values(team_id=team.id, member_id=member.id, role="speler")
    )
    built.ids = {
        "User": {user.id},
        "Member": {member.id},
        "Invoice": {inv1.id, inv2.id},
        "Payment": {p.id for p in pays},
        "SignUp": {signup.id},
        "team_members": {(team.id, member.id)},
        "Message": set(),
    }
    return built


def message(sender: Built, recipient: Built, when: datetime | None = None) -> Message:
    msg = Message(
        sender_id=sender.member.id,
        recipient_id=recipient.member.id,
        sent_at=when or datetime(2022, 5, 1, 12, 0),
        subject_line="Training",
    )
    db.session.add(msg)
    db.session.flush()
    sender.ids["Message"].add(msg.id)
    recipient.ids["Message"].add(msg.id)
    return msg
