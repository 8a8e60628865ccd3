"""The plugin contract as a host meets it: registration and the member's export.

A tiny host app of its own (one ``Member`` subject model) shows that a plugin
passed with ``AVG(plugins=[...])``, one added with ``avg.register_plugin`` and
one offered by an installed package's entry point all take part in export,
erasure and the purge, and that a faulty registration is refused. On the
example club, a member's export holds the tables of its own photos plugin and
of the built-in features, and nothing of anyone else.

External erasures are in ``test_plugin_external.py``, ``@avg.before_erase``
hooks in ``test_plugin_hooks.py``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from example_app.models import Member as ClubMember
from example_app.models import db
from example_app.photos import badge, save_photo
from flask_avg import (
    AVG,
    ConfigurationError,
    Erased,
    ExportSection,
    Hold,
    ModelPolicy,
    Plugin,
    SubjectMixin,
    personal,
)
from flask_avg.core.models import AvgBase
from flask_avg.core.plugins import ENTRY_POINT_GROUP, PluginError, installed, load
from flask_avg.extension import BUILTIN_PLUGINS, get_state
from flask_avg.features.export.service import export_subject
from flask_avg.features.requests.service import file_request
from tests.support.app import csrf_token
from tests.support.export import read_json_rows
from tests.support.self_service import logged_in, make_board, member_with_login

BUILTIN_NAMES = [load(spec).name for spec in BUILTIN_PLUGINS]

# -- a tiny host app of its own ---------------------------------------------------

hostdb = SQLAlchemy()


class Member(hostdb.Model, SubjectMixin):
    __tablename__ = "tp_members"
    __avg__ = ModelPolicy(purpose="Membership", basis="contract", erase="delete")

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), info=personal("identity"))


class Recorder(Plugin):
    """Holds one note per subject and writes down every question it is asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[Any, ...]] = []

    def export(self, ctx):  # type: ignore[no-untyped-def]
        self.calls.append(("export", ctx.key))
        yield ExportSection(
            "notes", "Notes", {"text": "Text"}, [{"text": f"{self.name}:{ctx.key}"}]
        )

    def check(self, ctx):  # type: ignore[no-untyped-def]
        yield Hold(f"{self.name}.receipts", 1, f"{self.name} keeps a receipt")

    def erase(self, ctx):  # type: ignore[no-untyped-def]
        self.calls.append(("erase", list(ctx.keys), ctx.reason, ctx.actor))
        return [Erased(f"{self.name}.notes", removed=len(ctx.keys))]

    def purge(self, ctx):  # type: ignore[no-untyped-def]
        self.calls.append(("purge", ctx.dry_run))
        return 2


def host_app(
    url: str = "sqlite://",
    *,
    plugins: tuple[Plugin, ...] = (),
    registered: tuple[Any, ...] = (),
    **config: Any,
) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="t",
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SERVER_NAME="host.test",
        **config,
    )
    hostdb.init_app(app)
    LoginManager(app).user_loader(lambda _id: None)  # nobody logs in here
    avg = AVG(db=hostdb, plugins=plugins)
    for plugin in registered:
        avg.register_plugin(plugin)
    avg.init_app(app)
    return app


def _drop_host_tables() -> None:
    hostdb.session.remove()
    hostdb.drop_all()
    AvgBase.metadata.drop_all(hostdb.engine)


@contextmanager
def running_host(url: str, **kwargs: Any) -> Iterator[Flask]:
    """The host app with empty tables, inside an app context."""
    app = host_app(url, **kwargs)
    with app.app_context():
        _drop_host_tables()
        hostdb.create_all()
        AvgBase.metadata.create_all(hostdb.engine)
        try:
            yield app
        finally:
            _drop_host_tables()
            hostdb.engine.dispose()


def _json_export(state: Any, subject: Any) -> dict[str, Any]:
    buf = io.BytesIO()
    export_subject(state, subject, "json", buf, special=True, actor="test")
    return json.loads(buf.getvalue())


# -- 1. registration --------------------------------------------------------------


def test_plugins_passed_and_registered_both_take_part(db_url):
    passed, added = Recorder("host.passed"), Recorder("host.added")
    with running_host(db_url, plugins=(passed,), registered=(added,)):
        state = get_state()
        # flask-avg's own first, in their order; then the host's, in registration order
        assert state.plugins.names() == [*BUILTIN_NAMES, "host.passed", "host.added"]
        ann = Member(name="Ann")
        bob = Member(name="Bob")
        hostdb.session.add_all([ann, bob])
        hostdb.session.commit()
        ann_id, bob_id = ann.id, bob.id

        rows = read_json_rows(_json_export(state, ann))
        assert rows["host.passed.notes"] == {(1,): {"text": f"host.passed:{ann_id}"}}
        assert rows["host.added.notes"] == {(1,): {"text": f"host.added:{ann_id}"}}

        result = state.erase_subject(ann_id, actor="7", reason="request")
        for plugin in (passed, added):
            assert ("erase", [str(ann_id)], "request", "7") in plugin.calls
        removed = {o.model: o.count for o in result.removed}
        assert removed["host.passed.notes"] == 1 and removed["host.added.notes"] == 1
        held = {o.model: o.reason for o in result.retained}
        assert held["host.passed.receipts"] == "host.passed keeps a receipt"
        assert held["host.added.receipts"] == "host.added keeps a receipt"
        hostdb.session.rollback()
        assert hostdb.session.get(Member, ann_id) is None  # erase="delete"
        assert hostdb.session.get(Member, bob_id) is not None

        dry = state.purge(dry_run=True)
        real = state.purge()
        for plugin in (passed, added):
            assert [c for c in plugin.calls if c[0] == "purge"] == [
                ("purge", True),
                ("purge", False),
            ]
        assert dry.plugin_rows["host.passed"] == 2 and real.plugin_rows["host.added"] == 2


def test_a_plugin_without_a_name_is_refused():
    class Nameless(Plugin):
        pass

    with pytest.raises(PluginError, match="Nameless has no name"):
        host_app(plugins=(Nameless(),))
    with pytest.raises(PluginError, match="Nameless has no name"):
        host_app(registered=(Nameless(),))


def test_an_object_that_is_not_a_plugin_is_refused():
    class LooksLikeOne:  # the right attributes, but not a flask_avg Plugin
        name = "host.duck"
        external = False

        def export(self, ctx):  # type: ignore[no-untyped-def]
            return ()

    with pytest.raises(PluginError, match="is not a flask_avg Plugin"):
        host_app(registered=(LooksLikeOne(),))
    with pytest.raises(PluginError, match="'host.photos' is not a flask_avg Plugin"):
        host_app(registered=("host.photos",))


def test_two_plugins_with_one_name_are_refused():
    with pytest.raises(PluginError, match="'host.same' is registered twice"):
        host_app(plugins=(Recorder("host.same"),), registered=(Recorder("host.same"),))
    # a host's plugin cannot take the place of one of flask-avg's own
    with pytest.raises(PluginError, match="'consent' is registered twice"):
        host_app(registered=(Recorder("consent"),))


def test_a_refused_plugin_leaves_no_half_registered_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="t", SQLALCHEMY_DATABASE_URI="sqlite://")
    hostdb.init_app(app)
    LoginManager(app)
    with pytest.raises(PluginError):
        AVG(app, hostdb, plugins=[Recorder("host.same"), Recorder("host.same")])
    assert "avg" not in app.extensions
    assert "avg" not in app.cli.commands


ENTRY_MODULE = """
from flask_avg import ExportSection, Plugin


class CardPlugin(Plugin):
    name = "tp.cards"

    def export(self, ctx):
        yield ExportSection("cards", "Cards", {"card": "Card"}, [{"card": "card-" + ctx.key}])


class BadgePlugin(Plugin):
    name = "tp.badges"


badges = BadgePlugin()
"""


def _install_package(root: Path, module: str) -> None:
    """A real installed distribution in ``root``: a module and its dist-info."""
    (root / f"{module}.py").write_text(ENTRY_MODULE, encoding="utf-8")
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        f"cards = {module}:CardPlugin\n"  # a class: instantiated
        f"badges = {module}:badges\n",  # an instance: used as is
        encoding="utf-8",
    )


def test_an_installed_package_offers_plugins_through_its_entry_point(db_url, tmp_path, monkeypatch):
    module = f"tp_entry_club_{abs(hash(str(tmp_path))) % 10**8}"
    _install_package(tmp_path, module)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    try:
        found = installed()
        assert sorted(p.name for p in found) == ["tp.badges", "tp.cards"]
        assert next(p for p in found if p.name == "tp.badges") is sys.modules[module].badges
        host = Recorder("host.own")
        with running_host(db_url, registered=(host,)):
            state = get_state()
            names = state.plugins.names()
            # after flask-avg's own, before the host's: the host registers last
            assert names[: len(BUILTIN_NAMES)] == BUILTIN_NAMES
            assert sorted(names[len(BUILTIN_NAMES) : -1]) == ["tp.badges", "tp.cards"]
            assert names[-1] == "host.own"
            ann = Member(name="Ann")
            hostdb.session.add(ann)
            hostdb.session.commit()
            rows = read_json_rows(_json_export(state, ann))
            assert rows["tp.cards.cards"] == {(1,): {"card": f"card-{ann.id}"}}
    finally:
        sys.modules.pop(module, None)


def test_an_unknown_blueprint_name_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="unknown blueprint\\(s\\) photo_album") as err:
        host_app(AVG_BLUEPRINTS=("core", "retention", "photo_album"))
    assert "known: " in str(err.value) and "retention" in str(err.value)


class PagesPlugin(Plugin):
    name = "host.pages"
    blueprint = "club_pages"

    def __init__(self) -> None:
        self.created = 0

    def create_blueprint(self, state: Any) -> Blueprint:
        self.created += 1
        bp = Blueprint("host_pages", __name__)
        bp.add_url_rule("/club-pages/hello", "hello", lambda: "hello")
        return bp


def test_a_plugin_blueprint_is_known_and_mounted_only_when_enabled():
    pages = PagesPlugin()
    app = host_app(registered=(pages,), AVG_BLUEPRINTS=("core", "club_pages"))
    assert pages.created == 1
    assert app.test_client().get("/avg/club-pages/hello").data == b"hello"
    left_out = PagesPlugin()
    app = host_app(registered=(left_out,), AVG_BLUEPRINTS=("core",))
    assert left_out.created == 0
    assert "host_pages" not in app.blueprints
    assert "host.pages" in app.extensions["avg"].plugins  # its data part still takes part


# -- 2. the member's export -------------------------------------------------------


def test_member_export_holds_every_plugin_table_and_only_their_own(app, client):
    state = get_state()
    me = make_board(member_with_login(1))
    other = member_with_login(2)
    my_id, other_id = me.member.id, other.member.id
    file_request(state, my_id, "restriction", user_id=str(me.user.id), message="Mijn verhaal")
    file_request(state, other_id, "restriction", user_id=str(other.user.id), message="Niet van mij")
    state.ext.record_consent(db.session.get(ClubMember, my_id), "newsletter", given=True)
    db.session.commit()
    mine = save_photo(my_id, badge("V1"))
    save_photo(other_id, badge("V2"))
    save_photo(int(f"{my_id}1"), badge("X"))  # a key that starts with mine

    logged_in(client, me)
    token = csrf_token(client, "/avg/me/export")
    response = client.post("/avg/me/export", data={"format": "json", "csrf_token": token})
    assert response.status_code == 200
    rows = read_json_rows(json.loads(response.data))

    assert rows["club.photos.photos"] == {
        (1,): {"file": f"{my_id}.svg", "bytes": mine.stat().st_size}
    }
    requests = list(rows["requests.requests"].values())
    assert [r["message"] for r in requests] == ["Mijn verhaal"]
    consent = list(rows["consent.consent"].values())
    assert [(c["purpose"], c["given"]) for c in consent] == [("newsletter", True)]
    assert list(rows["acl.acl_groups"].values()) == [{"group": "Bestuur"}]
    text = response.get_data(as_text=True)
    assert f"{other_id}.svg" not in text and f"{my_id}1.svg" not in text
    assert "Niet van mij" not in text


def test_the_board_exports_another_member_with_their_own_photo_only(app, client):
    board = make_board(member_with_login(1))
    other = member_with_login(2)
    save_photo(board.member.id, badge("B"))
    theirs = save_photo(other.member.id, badge("O"))
    logged_in(client, board)
    url = f"/avg/members/{other.member.id}/export"
    token = csrf_token(client, url)
    rows = read_json_rows(
        json.loads(client.post(url, data={"format": "json", "csrf_token": token}).data)
    )
    assert rows["club.photos.photos"] == {
        (1,): {"file": theirs.name, "bytes": theirs.stat().st_size}
    }
    assert "acl.acl_groups" not in rows  # the other member is in no group
