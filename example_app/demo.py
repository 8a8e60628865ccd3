"""Realistic demo data for the club: members, invoices, payments, sign-ups, messages, teams."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.security import generate_password_hash

from flask_avg.core.models import AvgBase
from flask_avg.features.acl.models import Group, GroupMember
from flask_avg.features.acl.service import ensure_default_groups

from .models import Invoice, Member, Message, Payment, SignUp, Team, User, db, team_members
from .photos import badge, save_photo

DEMO_PASSWORD = "avg-demo"  # noqa: S105 - printed on purpose, demo only
DEMO_LOGINS = (
    ("lid@example.org", "member"),
    ("bestuur@example.org", "board"),
    ("admin@example.org", "administrator"),
)

FIRST = [
    "Anna",
    "Bram",
    "Carla",
    "Daan",
    "Emma",
    "Femke",
    "Gijs",
    "Hanna",
    "Iris",
    "Jeroen",
    "Kees",
    "Lotte",
    "Mark",
    "Noor",
    "Olga",
    "Pieter",
    "Quinten",
    "Rosa",
    "Sanne",
    "Thijs",
    "Ulla",
    "Vera",
    "Willem",
    "Xander",
    "Yara",
    "Zoë",
    "Fleur",
    "Bas",
    "Ruben",
    "Mila",
]
LAST = [
    "de Vries",
    "Jansen",
    "de Jong",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Dijk",
    "van den Berg",
    "Dekker",
    "Brouwer",
    "Kok",
    "Willems",
    "El Amrani",
    "Yılmaz",
]
STREETS = [
    "Dorpsstraat",
    "Kerkweg",
    "Molenlaan",
    "Stationsplein",
    "Beukenlaan",
    "Schoolstraat",
    "Wilhelminaweg",
]
CITIES = (("Utrecht", "3511"), ("Zeist", "3701"), ("Houten", "3991"), ("Bunnik", "3981"))
TEAMS = ("Heren 1", "Dames 1", "Jongens JO13", "Meisjes MO15", "Veteranen")
HEALTH = ("Astma, inhalator in tas", "Allergisch voor wespen", "Diabetes type 1")


def seed(
    n_members: int = 300, *, rng_seed: int = 2018, today: date | None = None
) -> dict[str, int]:
    """Fill an empty club database; returns counts per table."""
    rng = random.Random(rng_seed)
    today = today or date.today()
    db.create_all()
    AvgBase.metadata.create_all(db.engine)
    ensure_default_groups(db.session)
    db.session.flush()

    # Computing one hash keeps seeding fast; each demo account still checks it properly.
    demo_hash = generate_password_hash(DEMO_PASSWORD)
    teams = [Team(name=name) for name in TEAMS]
    db.session.add_all(teams)
    members: list[Member] = []
    counts = dict.fromkeys(("members", "users", "invoices", "payments", "signups", "messages"), 0)
    for i in range(n_members):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        start = today - timedelta(days=rng.randint(200, 365 * 25))
        ended = i >= 3 and rng.random() < 0.55  # the three demo logins stay members
        end = None
        if ended:
            end = min(start + timedelta(days=rng.randint(365, 365 * 12)), today)
            end = max(end, today - timedelta(days=365 * 15))
            start = min(start, end - timedelta(days=180))
        city, pc = rng.choice(CITIES)
        email = f"{first}.{last}.{i}".lower().replace(" ", "") + "@example.net"
        user = None
        if i < len(DEMO_LOGINS):
            email = DEMO_LOGINS[i][0]
        if i < len(DEMO_LOGINS) or (not ended and rng.random() < 0.4):
            user = User(email=email, password_hash=demo_hash, active=True)
            db.session.add(user)
            db.session.flush()
            counts["users"] += 1
        born = date(rng.randint(1945, 2015), rng.randint(1, 12), rng.randint(1, 28))
        if i < len(DEMO_LOGINS):  # the demo logins are adults; some other members are minors
            born = born.replace(year=min(born.year, 1990))
        member = Member(
            user_id=user.id if user else None,
            member_number=f"W{10000 + i}",
            first_name=first,
            last_name=last,
            birth_date=born,
            email=email,
            phone=f"06-{rng.randint(10000000, 99999999)}",
            street=f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
            postcode=f"{pc} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMN')}",
            city=city,
            iban=f"NL{rng.randint(10, 99)}INGB0{rng.randint(100000000, 999999999)}",
            start_date=start,
            end_date=end,
            medical_notes=rng.choice(HEALTH) if rng.random() < 0.1 else None,
        )
        db.session.add(member)
        members.append(member)
    db.session.flush()
    counts["members"] = len(members)
    counts["photos"] = 0
    for member in members:  # a photo for about a third of the members, kept as a file
        if member.user_id is not None or rng.random() < 0.3:
            save_photo(member.id, badge(member.first_name[:1] + member.last_name[:1]))
            counts["photos"] += 1

    for member in members:
        _invoices_for(member, rng, today, counts)
        db.session.add(
            SignUp(
                member_id=member.id,
                signed_up_on=member.start_date - timedelta(days=rng.randint(3, 40)),
                kind=rng.choice(("lidmaatschap", "proeftraining")),
                remarks=rng.choice((None, "Wil graag op dinsdag trainen", "Via een vriend")),
            )
        )
        counts["signups"] += 1
        if rng.random() < 0.6:
            db.session.execute(
                team_members.insert().values(
                    team_id=rng.choice(teams).id,
                    member_id=member.id,
                    role=rng.choice(("speler", "aanvoerder", "trainer")),
                )
            )
    for _ in range(n_members):
        sender, recipient = rng.sample(members, 2)
        db.session.add(
            Message(
                sender_id=sender.id,
                recipient_id=recipient.id,
                sent_at=datetime.combine(
                    max(sender.start_date, recipient.start_date), datetime.min.time()
                )
                + timedelta(hours=rng.randint(8, 20)),
                subject_line=rng.choice(("Training dinsdag", "Rijden zaterdag?", "Bardienst")),
            )
        )
        counts["messages"] += 1
    # Sign-ups from people who never became members: no member record at all.
    for _ in range(max(n_members // 10, 1)):
        db.session.add(
            SignUp(
                member_id=None,
                signed_up_on=today - timedelta(days=rng.randint(1, 365 * 6)),
                kind="proeftraining",
                remarks=None,
            )
        )
        counts["signups"] += 1

    _guardian_link(members, today)
    groups = {grp.key: grp for grp in db.session.scalars(db.select(Group))}
    for (_login, group_key), member in zip(DEMO_LOGINS, members, strict=False):
        if group_key != "member":
            db.session.add(GroupMember(user_id=str(member.user_id), group_id=groups[group_key].id))
    db.session.commit()
    return counts


def _guardian_link(members: list[Member], today: date) -> None:
    """lid@example.org is the guardian of the youngest current member under 16 (if any)."""
    from flask_avg.core.subjects import age_on
    from flask_avg.features.guardians.models import ACTIVE, GuardianLink

    parent = members[0] if members else None
    children = [
        m
        for m in members[len(DEMO_LOGINS) :]
        if m.end_date is None and m.birth_date and age_on(m.birth_date, today) < 16
    ]
    if parent is None or parent.user_id is None or not children:
        return
    child = max(children, key=lambda m: m.birth_date or today)
    db.session.add(GuardianLink(subject=str(child.id), guardian=str(parent.user_id), status=ACTIVE))


def _invoices_for(member: Member, rng: random.Random, today: date, counts: dict[str, int]) -> None:
    end = member.end_date or today
    year = member.start_date.year
    while date(year, 1, 15) <= end:
        invoice_date = max(date(year, 1, 15), member.start_date)
        invoice = Invoice(
            member_id=member.id,
            number=f"{year}-{member.id:05d}",
            invoice_date=invoice_date,
            description=f"Contributie {year}",
            amount=Decimal(rng.choice(("120.00", "145.50", "85.00"))),
        )
        db.session.add(invoice)
        db.session.flush()
        counts["invoices"] += 1
        if invoice_date < today - timedelta(days=30) or rng.random() < 0.5:
            db.session.add(
                Payment(
                    invoice_id=invoice.id,
                    paid_on=invoice_date + timedelta(days=rng.randint(1, 28)),
                    amount=invoice.amount,
                    iban_used=member.iban,
                )
            )
            counts["payments"] += 1
        year += 1


@click.command("demo-seed")
@click.option("--members", default=300, show_default=True, help="How many members to create.")
@click.option("--reset", is_flag=True, help="Drop the club's tables first.")
@with_appcontext
def seed_command(members: int, reset: bool) -> None:
    """Fill the database with a realistic demo club."""
    if reset:
        db.drop_all()
        AvgBase.metadata.drop_all(db.engine)
    if _has_tables() and db.session.scalar(db.select(db.func.count()).select_from(Member)):
        click.echo("The database already has members (use --reset to start again).")
    else:
        counts = seed(members)
        click.echo(", ".join(f"{n} {name}" for name, n in counts.items()))
    click.echo(f"Database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo(f"Demo logins (password: {DEMO_PASSWORD}):")
    for login, group in DEMO_LOGINS:
        click.echo(f"  {login:<22} {group}")


def _has_tables() -> bool:
    from sqlalchemy import inspect

    return inspect(db.engine).has_table("members")
