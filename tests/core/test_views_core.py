"""The member page shows everything of the member and nothing of anyone else."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import force_locale, format_date

from example_app.models import db
from flask_avg.extension import get_state
from flask_avg.features.acl.models import Group, GroupMember
from tests.support.app import login
from tests.support.factories import full_member, message


def _with_password(built, email):
    from werkzeug.security import generate_password_hash

    built.user.email = email
    built.user.password_hash = generate_password_hash("pw", method="pbkdf2:sha256:1000")
    return built


def test_anonymous_visitor_is_sent_to_login(app, client):
    response = client.get("/avg/me")
    assert response.status_code == 302
    assert "/login?next=" in response.location


def test_member_page_lists_every_declared_field_and_nothing_of_others(app, client):
    a = _with_password(full_member(1), "a@example.org")
    b = full_member(2)
    message(a, b)
    db.session.commit()
    login(client, "a@example.org", "pw")
    html = client.get("/avg/me").get_data(as_text=True)
    state = get_state()
    for model in state.registry:
        for name, spec in model.columns.items():
            if spec.secret:
                assert f'data-field="{name}"' not in html
            else:
                assert f'data-field="{name}"' in html, f"{model.name}.{name} missing"
    for value in (
        "Voornaam1",
        "Achternaam1",
        "06-00000001",
        "medisch 1",
        "Contributie 2021",
        "speler",
    ):
        assert value in html
    for value in ("Voornaam2", "Achternaam2", "06-00000002", "medisch 2", "T0002"):
        assert value not in html
    assert "Gezondheid" in html  # the member sees their own special-category data


def test_board_sees_members_but_not_health_without_need_to_know(app, client):
    a = _with_password(full_member(1), "bestuur@example.org")
    full_member(2)
    board = db.session.scalars(db.select(Group).where(Group.key == "board")).one()
    db.session.add(GroupMember(user_id=str(a.user.id), group_id=board.id))
    db.session.commit()
    login(client, "bestuur@example.org", "pw")
    listing = client.get("/avg/members").get_data(as_text=True)
    assert "Voornaam2" in listing
    detail = client.get(f"/avg/members/{a.member.id + 1}").get_data(as_text=True)
    assert "Voornaam2" in detail
    assert "medisch 2" not in detail and 'data-field="medical_notes"' not in detail
    assert client.get("/avg/members/999999").status_code == 404
    assert client.get("/avg/members/not-a-number").status_code == 404


def test_deletion_date_follows_retention_setting(app, client):
    ended = date.today() - timedelta(days=100)
    a = _with_password(full_member(1), "a@example.org")
    a.member.end_date = ended
    state = get_state()
    state.settings.set("retention.members.days", 365)
    db.session.commit()
    login(client, "a@example.org", "pw")
    client.get("/avg/lang/en")
    html = client.get("/avg/me").get_data(as_text=True)
    with app.test_request_context(), force_locale("en"):  # the language the member chose
        expected = format_date(ended + timedelta(days=365), "long")
    assert expected in html

    # a date already past is never shown: the data goes at the next purge
    state.settings.set("retention.members.days", 30)
    db.session.commit()
    html = client.get("/avg/me").get_data(as_text=True)
    assert "at the next purge" in html


def test_a_host_overrides_a_features_page_by_its_path(app, tmp_path):
    """Feature templates live in their packages, yet the host's own folder wins,
    at the same path as ever (``templates/avg/me.html``)."""
    from tests.support.self_service import logged_in, member_with_login

    (tmp_path / "avg").mkdir()
    (tmp_path / "avg" / "me.html").write_text("<p>Het eigen ontwerp van de club</p>")
    app.jinja_loader.searchpath.insert(0, str(tmp_path))  # the host's template folder
    client = logged_in(app.test_client(), member_with_login(1))
    page = client.get("/avg/me").get_data(as_text=True)
    assert "Het eigen ontwerp van de club" in page
    assert client.get("/avg/me/requests").status_code == 200  # the feature's own pages still render
