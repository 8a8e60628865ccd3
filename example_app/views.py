"""The club's own pages: home, login and logout."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired

from flask_avg import safe_redirect

from .models import User, db, now

bp = Blueprint("club", __name__)


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Wachtwoord", validators=[DataRequired()])
    remember = BooleanField("Ingelogd blijven")


@bp.route("/")
def home() -> Any:
    return render_template("home.html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.execute(
            db.select(User).where(User.email == form.email.data.strip().lower())
        ).scalar_one_or_none()
        if (
            user is not None
            and user.is_active
            and check_password_hash(user.password_hash, form.password.data)
        ):
            login_user(user, remember=bool(form.remember.data))
            user.last_login = now()
            db.session.commit()
            return safe_redirect(request.args.get("next"), "club.home")
        flash("Onbekend e-mailadres of verkeerd wachtwoord.", "error")
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("club.home"))


@bp.app_context_processor
def _logout_form() -> dict[str, Any]:
    return {"logout_form": FlaskForm() if current_user.is_authenticated else None}
