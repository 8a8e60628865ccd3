"""The club's own pages: home, login and logout.

The login is written to be copied: failed attempts are throttled (per address
and per account, with Flask-Limiter) and recorded in flask-avg's audit log, and
an unknown address costs the same password check as a known one, so the answer
time does not tell which addresses have an account.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired

from flask_avg import safe_redirect

from . import avg
from .models import User, db, now

bp = Blueprint("club", __name__)

#: Checked when the address is unknown, so both answers cost one hash check.
DUMMY_HASH = generate_password_hash("no account has this password")

FAILED = "Onbekend e-mailadres of verkeerd wachtwoord."
THROTTLED = "Te veel mislukte pogingen. Probeer het later opnieuw."


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Wachtwoord", validators=[DataRequired()])
    remember = BooleanField("Ingelogd blijven")


@bp.route("/")
def home() -> Any:
    return render_template("home.html")


def check_password(user: User | None, password: str) -> bool:
    """One hash check whether or not the account exists (no timing difference)."""
    ok = check_password_hash(user.password_hash if user is not None else DUMMY_HASH, password)
    return ok and user is not None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        typed = form.email.data.strip().lower()
        user = db.session.execute(db.select(User).where(User.email == typed)).scalar_one_or_none()
        if check_password(user, form.password.data) and user is not None and user.is_active:
            login_user(user, remember=bool(form.remember.data))
            user.last_login = now()
            db.session.commit()
            avg.audit.login_succeeded(user)
            return safe_redirect(request.args.get("next"), "club.home")
        if user is None:
            avg.audit.login_failed(login=typed, reason="unknown_account")
        else:
            reason = "inactive" if not user.is_active else "wrong_password"
            avg.audit.login_failed(user=user, reason=reason)
        flash(FAILED, "error")
    return render_template("login.html", form=form)


def _account_key() -> str:
    """Throttle per typed address too: spreading guesses over many addresses
    (or one address over many hosts) is slowed either way."""
    return "login:" + (request.form.get("email") or "").strip().lower()


def throttle_login(app: Flask, limiter: Limiter, limit: str) -> None:
    """Limit failed logins per address and per account (a successful login redirects
    and is not counted). The limiter is the app's own, so each app counts apart."""
    failed = lambda response: response.status_code != 302  # noqa: E731
    view = app.view_functions["club.login"]
    view = limiter.limit(limit, methods=["POST"], deduct_when=failed)(view)
    view = limiter.limit(limit, methods=["POST"], deduct_when=failed, key_func=_account_key)(view)
    app.view_functions["club.login"] = view


@bp.app_errorhandler(429)
def too_many_attempts(_error: Any) -> Any:
    if request.endpoint == "club.login":
        email = (request.form.get("email") or "").strip().lower()
        if email:
            avg.audit.login_failed(login=email, reason="throttled")
        flash(THROTTLED, "error")
        return render_template("login.html", form=LoginForm()), 429
    return THROTTLED, 429


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    if not FlaskForm().validate_on_submit():
        abort(400)  # a missing or wrong CSRF token: a forged logout
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    # every copy of this session (and of the remember-me cookie) ends with this one
    user.session_version = (user.session_version or 0) + 1
    db.session.commit()
    logout_user()
    return redirect(url_for("club.home"))


@bp.app_context_processor
def _logout_form() -> dict[str, Any]:
    return {"logout_form": FlaskForm() if current_user.is_authenticated else None}
