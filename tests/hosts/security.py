"""Winkel: a small web shop on Flask-Security-Too, for the host conformance tests.

Flask-Security's ``fsqla_v3`` models give the users (the data subject) and
their roles; each user has one profile (address, phone, a health note for
deliveries) and orders, which the tax authority wants kept seven years. The
shop's back office is for the ``board`` role (``@roles_required``).

The flask-avg integration is the blocks marked ``flask-avg integration``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask
from flask_security import Security, SQLAlchemyUserDatastore, auth_required, roles_required
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

# --- flask-avg integration
from flask_avg import AVG, ModelPolicy, PersonalDataMixin, RetentionCategory, SubjectMixin, personal
from flask_avg.core.retention_categories import SEVEN_YEARS

# --- end of flask-avg integration

db = SQLAlchemy()
fsqla.FsModels.set_db_info(db, user_table_name="shop_user", role_table_name="shop_role")
# --- flask-avg integration
avg = AVG(db=db)
avg.add_retention_category(
    RetentionCategory(
        "orders", "Orders", "order date", floor_days=SEVEN_YEARS, floor_reason="Tax law: 7 years"
    )
)
# --- end of flask-avg integration


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined]
    __tablename__ = "shop_role"


class User(db.Model, fsqla.FsUserMixin, SubjectMixin):  # type: ignore[name-defined]
    __tablename__ = "shop_user"
    # --- flask-avg integration
    __avg__ = ModelPolicy(
        basis="contract",
        columns={
            "email": personal("account"),
            "username": personal("account"),
            "password": personal("account", secret=True),
            "fs_uniquifier": personal("account", secret=True),
            "last_login_at": personal("account"),
            "current_login_at": personal("account"),
            "last_login_ip": personal("account"),
            "current_login_ip": personal("account"),
            "us_phone_number": personal("contact"),
        },
    )
    # --- end of flask-avg integration


class Profile(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
    """One per user: where to deliver, and what the driver should know."""

    __tablename__ = "shop_profile"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("shop_user.id"), unique=True, nullable=False)
    # --- flask-avg integration
    address = db.Column(db.String(200), info=personal("address", editable=True))
    phone = db.Column(db.String(30), info=personal("contact", editable=True))
    health_note = db.Column(db.String(300), info=personal("health", basis="consent"))
    # --- end of flask-avg integration


class Order(db.Model, PersonalDataMixin):  # type: ignore[name-defined]
    __tablename__ = "shop_order"
    # --- flask-avg integration
    __avg__ = ModelPolicy(retention="orders", anchor="ordered_on", basis="legal_obligation")
    # --- end of flask-avg integration
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("shop_user.id"), nullable=False, index=True)
    number = db.Column(db.String(20), unique=True, nullable=False, info=personal("financial"))
    ordered_on = db.Column(db.Date, nullable=False, info=personal("financial"))
    total = db.Column(db.Numeric(10, 2), nullable=False, info=personal("financial"))


user_datastore = SQLAlchemyUserDatastore(db, User, Role)
security = Security()
bp = Blueprint("shop", __name__)


@bp.route("/backoffice")
@auth_required()
@roles_required("board")
def backoffice() -> Any:
    return "orders to ship"


def new_order(user: User, number: str, ordered_on: date, total: str) -> Order:
    order = Order(user_id=user.id, number=number, ordered_on=ordered_on, total=Decimal(total))
    db.session.add(order)
    return order


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="change-me",
        SECURITY_PASSWORD_SALT="change-me-too",
        SECURITY_EMAIL_VALIDATOR_ARGS={"check_deliverability": False},
    )
    app.config.update(config or {})
    db.init_app(app)
    security.init_app(app, user_datastore)
    app.register_blueprint(bp)
    # --- flask-avg integration
    app.config.setdefault("AVG_CLUB_NAME", "Winkel")
    app.config.setdefault("AVG_ROLE_GROUPS", {"board": "board"})
    avg.init_app(app)
    # --- end of flask-avg integration
    return app
