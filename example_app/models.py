"""The club's own models. flask-avg only adds declarations to them.

Both SQLAlchemy styles appear on purpose: ``Member`` and ``Invoice`` use 2.0
``Mapped[...]`` annotations, the rest classic ``db.Column``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg import Encrypted, ModelPolicy, PersonalDataMixin, SubjectMixin, personal

db = SQLAlchemy()


def t(nl: str, en: str) -> dict[str, str]:
    """A label in both languages of the site (the club keeps no translation catalogue)."""
    return {"nl": nl, "en": en}


class User(db.Model, UserMixin, PersonalDataMixin):
    """A login account. Linked to a member through ``Member.user_id``."""

    __tablename__ = "users"
    __avg__ = ModelPolicy(
        purpose=t("Inloggen op de website", "Logging in to the club website"),
        basis="contract",
        label=t("Inlogaccount", "Account"),
    )

    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(200), unique=True, nullable=False, info=personal("account"))
    password_hash = db.Column(db.String(200), nullable=False, info=personal("account", secret=True))
    last_login = db.Column(
        db.DateTime, info=personal("account", label=t("Laatst ingelogd", "Last login"))
    )
    active = db.Column(db.Boolean, nullable=False, default=True)
    #: part of every session and remember-me cookie; logging out raises it, which
    #: ends every copy of the session at once (see ``example_app.load_user``)
    session_version = db.Column(db.Integer, nullable=False, default=0, server_default="0")

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return bool(self.active)

    def get_id(self) -> str:
        # what Flask-Login keeps in the cookie; flask-avg keys users by primary key, never this
        return f"{self.id}:{self.session_version or 0}"


class Member(db.Model, SubjectMixin):
    """A member (lid): the data subject."""

    __tablename__ = "members"
    __avg__ = ModelPolicy(
        retention="members",
        anchor="end_date",
        purpose=t("Ledenadministratie", "Membership administration"),
        basis="contract",
        erase="anonymise",
        label=t("Lid", "Member"),
        # below AVG_AGE_OF_CONSENT (16) a guardian gives consent
        birth_date="birth_date",
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    member_number: Mapped[str] = mapped_column(
        String(20), unique=True, info=personal("membership", label=t("Lidnummer", "Member number"))
    )
    first_name: Mapped[str] = mapped_column(
        String(80), info=personal("identity", label=t("Voornaam", "First name"))
    )
    last_name: Mapped[str] = mapped_column(
        String(120), info=personal("identity", label=t("Achternaam", "Last name"))
    )
    birth_date: Mapped[date | None] = mapped_column(
        info=personal("identity", label=t("Geboortedatum", "Date of birth"))
    )
    email: Mapped[str] = mapped_column(
        String(200),
        unique=True,
        info=personal("contact", editable=True, label=t("E-mail", "E-mail")),
    )
    phone: Mapped[str | None] = mapped_column(
        String(30), info=personal("contact", editable=True, label=t("Telefoon", "Phone"))
    )
    street: Mapped[str | None] = mapped_column(
        String(200),
        info=personal(
            "address", editable=True, label=t("Straat en huisnummer", "Street and number")
        ),
    )
    postcode: Mapped[str | None] = mapped_column(
        String(10), info=personal("address", editable=True, label=t("Postcode", "Postcode"))
    )
    city: Mapped[str | None] = mapped_column(
        String(100), info=personal("address", editable=True, label=t("Woonplaats", "City"))
    )
    iban: Mapped[str | None] = mapped_column(
        String(34),
        info=personal(
            "financial",
            purpose=t("Innen van de contributie", "Collecting the membership fee"),
            label=t("IBAN", "IBAN"),
        ),
    )
    start_date: Mapped[date] = mapped_column(
        info=personal("membership", label=t("Lid sinds", "Member since"))
    )
    end_date: Mapped[date | None] = mapped_column(
        info=personal("membership", label=t("Einde lidmaatschap", "End of membership"))
    )
    #: Art. 9 data, stored encrypted (AES-GCM; keys in AVG_ENCRYPTION_KEYS)
    medical_notes: Mapped[str | None] = mapped_column(
        Encrypted(500),
        info=personal(
            "health",
            encrypted=True,
            purpose=t("Eerste hulp tijdens trainingen", "First aid during training"),
            basis="consent",
            label=t("Medische bijzonderheden", "Medical notes"),
        ),
    )


class Invoice(db.Model, PersonalDataMixin):
    """A membership-fee invoice; kept seven years for the tax authority."""

    __tablename__ = "invoices"
    __avg__ = ModelPolicy(
        retention="invoices",
        anchor="invoice_date",
        purpose=t("Innen van de contributie", "Collecting the membership fee"),
        basis="legal_obligation",
        recipients=(t("Accountant", "Accountant"),),
        label=t("Facturen", "Invoices"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    number: Mapped[str] = mapped_column(
        String(20),
        unique=True,
        info=personal("financial", label=t("Factuurnummer", "Invoice number")),
    )
    invoice_date: Mapped[date] = mapped_column(
        info=personal("financial", label=t("Factuurdatum", "Invoice date"))
    )
    description: Mapped[str] = mapped_column(
        String(200), info=personal("financial", label=t("Omschrijving", "Description"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Numeric(10, 2), info=personal("financial", label=t("Bedrag", "Amount"))
    )


class Payment(db.Model, PersonalDataMixin):
    """A payment against an invoice: two foreign-key hops from the member."""

    __tablename__ = "payments"
    __avg__ = ModelPolicy(
        retention="invoices",
        anchor="paid_on",
        purpose=t("Innen van de contributie", "Collecting the membership fee"),
        basis="legal_obligation",
        label=t("Betalingen", "Payments"),
    )

    id = db.Column(db.Integer, primary_key=True)
    invoice_id = db.Column(db.ForeignKey("invoices.id"), nullable=False, index=True)
    paid_on = db.Column(
        db.Date, nullable=False, info=personal("financial", label=t("Betaald op", "Paid on"))
    )
    amount = db.Column(
        db.Numeric(10, 2), nullable=False, info=personal("financial", label=t("Bedrag", "Amount"))
    )
    iban_used = db.Column(
        db.String(34), info=personal("financial", label=t("Betaald van IBAN", "Paid from IBAN"))
    )


class SignUp(db.Model, PersonalDataMixin):
    """A sign-up (aanmelding) for membership or a trial training."""

    __tablename__ = "signups"
    __avg__ = ModelPolicy(
        retention="signups",
        anchor="signed_up_on",
        purpose=t("Afhandelen van aanmeldingen", "Handling sign-ups"),
        basis="contract",
        label=t("Aanmeldingen", "Sign-ups"),
    )

    id = db.Column(db.Integer, primary_key=True)
    member_id = db.Column(db.ForeignKey("members.id"), index=True)
    signed_up_on = db.Column(
        db.Date, nullable=False, info=personal("activity", label=t("Datum", "Date"))
    )
    kind = db.Column(
        db.String(40), nullable=False, info=personal("activity", label=t("Soort", "Kind"))
    )
    remarks = db.Column(db.String(500), info=personal("notes", label=t("Opmerkingen", "Remarks")))


class Message(db.Model, PersonalDataMixin):
    """A message between two members: two foreign keys to the subject."""

    __tablename__ = "messages"
    __avg__ = ModelPolicy(
        retention="members",
        anchor="sent_at",
        purpose=t("Berichten tussen leden", "Messages between members"),
        basis="contract",
        label=t("Berichten", "Messages"),
    )

    id = db.Column(db.Integer, primary_key=True)
    sender_id = db.Column(db.ForeignKey("members.id"), index=True)
    recipient_id = db.Column(db.ForeignKey("members.id"), index=True)
    sent_at = db.Column(
        db.DateTime, nullable=False, info=personal("communication", label=t("Verzonden", "Sent"))
    )
    subject_line = db.Column(
        db.String(200), info=personal("communication", label=t("Onderwerp", "Subject"))
    )


class Team(db.Model):
    """A team. Not personal data itself; membership of it is (see team_members)."""

    __tablename__ = "teams"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)


#: An association table: plain ``db.Table`` declared through ``info``.
team_members = db.Table(
    "team_members",
    db.Column("team_id", db.ForeignKey("teams.id"), primary_key=True),
    db.Column("member_id", db.ForeignKey("members.id"), primary_key=True),
    db.Column(
        "role", db.String(40), info=personal("activity", label=t("Rol in het team", "Role in team"))
    ),
    info={
        "avg": ModelPolicy(
            purpose=t("Teamindeling", "Team composition"),
            basis="contract",
            label=t("Teams", "Teams"),
        )
    },
)


def now() -> datetime:
    return datetime.now()
