"""The plugin contract: every feature, and a host's own data sources, answer the same questions.

As in Joomla's privacy plugins, each plugin is asked about one data subject
(or a set of them) and answers for the data it holds:

* :meth:`Plugin.export`: the tables it holds on a subject, for the member's export;
* :meth:`Plugin.check`: what it must keep and why, and until when (a :class:`Hold`);
* :meth:`Plugin.refuse`: subjects that may not be erased at all now (a :class:`Refusal`:
  the last Super User), so the erasure changes nothing and the purge leaves them;
* :meth:`Plugin.erase`: remove it, as SQL inside the erasure's transaction, for a
  set of subjects given as a query (one member, or a purge batch of thousands);
* :meth:`Plugin.erase_external`: remove what lives outside the database (files, a
  mailing service), after the database commit; a failure is recorded and retried;
* :meth:`Plugin.purge`: its own retention, once per retention purge;
* :meth:`Plugin.checklist`: lines of its own for the security checklist.

A plugin also names its ACL actions, its blueprint and CLI commands. flask-avg's
own features are plugins of exactly this kind (``flask_avg.features.*``).
Register one with ``AVG(plugins=[...])``, ``avg.register_plugin(...)`` or an
installed package's entry point in the ``flask_avg.plugins`` group.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from flask_avg.core.sql import key_in

if TYPE_CHECKING:
    from flask import Blueprint, Flask
    from flask.cli import AppGroup

    from flask_avg.core.checklist import CheckLine
    from flask_avg.extension import AvgState

#: The entry-point group installed packages offer plugins in.
ENTRY_POINT_GROUP = "flask_avg.plugins"


@dataclass
class ExportSection:
    """One table of a subject's data a plugin holds: ``rows`` of ``columns``.

    ``columns`` maps a column name to its readable label; ``category`` is a data
    category key (``"contact"``, ``"membership"``, ... or one the host added).
    """

    name: str
    label: Any
    columns: Mapping[str, Any]
    rows: Sequence[Mapping[str, Any]]
    category: str = "notes"


@dataclass
class Hold:
    """Rows a plugin keeps after an erasure, and why: ``until`` None means "while needed"."""

    name: str
    rows: int
    reason: Any
    until: date | None = None


@dataclass
class Refusal:
    """Subjects (keys as text) a plugin will not let go now, and why: a single erasure
    of one of them is refused with nothing changed; the purge leaves them for a later run."""

    keys: list[str]
    reason: Any


class ErasureRefused(Exception):
    """An erasure a plugin refused (:meth:`Plugin.refuse`); nothing was changed.

    ``str(exc)`` is the reasons, translated, for the user; ``refusals`` the plugins'
    :class:`Refusal` objects.
    """

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = list(refusals)
        super().__init__(" ".join(dict.fromkeys(str(r.reason) for r in self.refusals)))


@dataclass
class Erased:
    """What a plugin's erase did to one of its tables: rows removed and rows blanked."""

    name: str
    removed: int = 0
    anonymised: int = 0


@dataclass
class SubjectContext:
    """One subject, for :meth:`Plugin.export` and :meth:`Plugin.check`.

    ``key`` is the subject's key as text (how flask-avg's own tables refer to
    people); ``logins`` the subject's login ids as text.
    """

    state: AvgState
    session: Session
    subject_id: Any
    logins: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.subject_id)


@dataclass
class EraseContext:
    """A set of subjects being erased, for :meth:`Plugin.erase`.

    Read inside the erasure's transaction before any row of the subjects
    changes: ``subjects`` selects their keys (typed as the subject's primary
    key, for the host's own tables), ``keys`` lists the same keys as text (how
    flask-avg's tables and most external systems refer to people) and
    ``logins`` the login ids of their accounts, as text. ``reason`` is
    ``"request"``, ``"retention"``, ... and ``actor`` who erased (None for the
    scheduled purge). A purge batch holds up to ``AVG_PURGE_BATCH_SIZE`` subjects.
    """

    state: AvgState
    session: Session
    subjects: Select[Any]
    keys: list[str]
    logins: list[str]
    reason: str
    actor: str | None
    today: date

    def key_in(self, column: Any) -> Any:
        """``column IN keys``, as one parameter where the database allows (a purge
        batch's thousands of keys bind fast): for flask-avg's text key columns."""
        return key_in(self.session, column, self.keys)

    def login_in(self, column: Any) -> Any:
        """``column IN logins``, likewise."""
        return key_in(self.session, column, self.logins)


@dataclass
class ExternalContext:
    """Subjects whose database erasure committed, for :meth:`Plugin.erase_external`."""

    state: AvgState
    keys: list[str]
    reason: str


@dataclass
class PurgeContext:
    """One retention purge run, for :meth:`Plugin.purge`. ``now`` is the real time:
    a plugin's own retention (the audit log's) is never moved by ``--as-of``."""

    state: AvgState
    session: Session
    as_of: date
    now: datetime
    dry_run: bool
    actor: str | None

    @property
    def audit_cutoff(self) -> datetime | None:
        """Records kept as accountability go when the audit log drops its entries:
        ``AVG_AUDIT_RETENTION_DAYS`` before now (None: kept for ever)."""
        from flask_avg.core.config import config_value

        days = int(config_value("AUDIT_RETENTION_DAYS"))
        return self.now - timedelta(days=days) if days > 0 else None


class Plugin:
    """Base class of every flask-avg plugin; override what applies, the rest does nothing.

    ``name`` identifies it (``"consent"``, ``"club.photos"``); ``blueprint`` is the
    key in ``AVG_BLUEPRINTS`` that mounts its pages (None: no pages). The lifecycle
    methods decide what happens to data whether or not the pages are mounted.
    """

    name: str = ""
    #: its readable name for the board (the dashboard, ``flask avg plugins list``)
    title: Any = None
    #: ACL actions this plugin adds: name -> label
    actions: Mapping[str, Any] = {}
    #: the ``AVG_BLUEPRINTS`` key mounting :meth:`create_blueprint`
    blueprint: str | None = None
    #: readable names of the tables named in :class:`Erased` and :class:`Hold` results
    labels: Mapping[str, Any] = {}
    #: a folder of templates (``avg/<name>/page.html`` inside it), found whatever is mounted
    templates: str | None = None

    # -- set-up ---------------------------------------------------------------
    def init_app(self, app: Flask, state: AvgState) -> None:
        """Called once per app, before any blueprint is created (connect signals,
        add request hooks, provide ``state.acl`` or ``state.lifecycle``)."""

    def install(self, state: AvgState) -> str | None:
        """Add the rows this plugin starts with, once its tables exist (``flask avg
        init-db``); returns a line for the command's output, or None. Must be
        safe to run again."""
        return None

    def create_blueprint(self, state: AvgState) -> Blueprint | None:
        """Its pages; called only when :attr:`blueprint` is in ``AVG_BLUEPRINTS``.

        Add menu entries (``state.nav``) and dashboard panels (``state.dashboard``) here:
        they point at pages.
        """
        return None

    def register_commands(self, group: AppGroup) -> None:
        """Add commands to the ``flask avg`` group."""

    # -- the subject lifecycle -------------------------------------------------
    def export(self, ctx: SubjectContext) -> Iterable[ExportSection]:
        """The tables this plugin holds on ``ctx.subject_id`` (declared host models
        are exported by flask-avg itself; a plugin speaks for the rest)."""
        return ()

    def check(self, ctx: SubjectContext) -> Iterable[Hold]:
        """What an erasure of this subject would leave, and why."""
        return ()

    def refuse(self, ctx: EraseContext) -> Iterable[Refusal]:
        """Which of the subjects must not be erased now, and why (read only; asked
        before :meth:`erase`, inside the same transaction). Rare and absolute: data
        that may merely be kept longer is a :class:`Hold`, not a refusal."""
        return ()

    def erase(self, ctx: EraseContext) -> Iterable[Erased]:
        """Erase the subjects' data with SQL in ``ctx.session``; never commit."""
        return ()

    #: set True when :meth:`erase_external` does something
    external: bool = False

    def erase_external(self, ctx: ExternalContext) -> None:
        """Erase data outside the database, after the commit. Raise on failure: it is
        recorded, shown to the board and retried by the next purge or
        ``flask avg plugins retry``. Must be safe to run twice."""

    def purge(self, ctx: PurgeContext) -> int:
        """Drop this plugin's own records past their retention; returns rows dropped."""
        return 0

    def checklist(self, state: AvgState) -> Iterable[CheckLine]:
        """Lines of its own for the security checklist (``flask avg check --security``
        and the board's dashboard), read from what only this plugin knows."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def held_with_the_audit_log(
    ctx: SubjectContext, name: str, stamp: Any, mine: Any, reason: Any
) -> Iterator[Hold]:
    """A :class:`Hold` on the rows ``mine`` selects, kept as long as the audit log
    keeps its entries after the latest ``stamp`` (a datetime column)."""
    from sqlalchemy import func, select

    from flask_avg.core.config import config_value

    count, latest = ctx.session.execute(select(func.count(), func.max(stamp)).where(mine)).one()
    if count:
        days = int(config_value("AUDIT_RETENTION_DAYS"))
        until = (latest + timedelta(days=days)).date() if days > 0 else None
        yield Hold(name, int(count), reason, until)


class PluginError(RuntimeError):
    """A plugin that cannot be registered (no name, a name taken twice)."""


class Plugins:
    """The plugins of one app, in registration order: flask-avg's own first."""

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        self._by_name: dict[str, Plugin] = {}
        for plugin in plugins:
            self.add(plugin)

    def add(self, plugin: Plugin) -> None:
        if not isinstance(plugin, Plugin):
            raise PluginError(f"{plugin!r} is not a flask_avg Plugin")
        if not plugin.name:
            raise PluginError(f"{type(plugin).__name__} has no name")
        if plugin.name in self._by_name:
            raise PluginError(f"a plugin named {plugin.name!r} is registered twice")
        self._by_name[plugin.name] = plugin

    def __iter__(self) -> Iterator[Plugin]:
        return iter(list(self._by_name.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Plugin:
        return self._by_name[name]

    def get(self, name: str) -> Plugin | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return list(self._by_name)

    # -- the lifecycle, asked of every plugin ------------------------------------
    def export(self, ctx: SubjectContext) -> list[tuple[Plugin, ExportSection]]:
        return [(p, section) for p in self for section in p.export(ctx)]

    def check(self, ctx: SubjectContext) -> list[tuple[Plugin, Hold]]:
        return [(p, hold) for p in self for hold in p.check(ctx) if hold.rows]

    def refuse(self, ctx: EraseContext) -> list[Refusal]:
        return [found for p in self for found in p.refuse(ctx) if found.keys]

    def erase(self, ctx: EraseContext) -> list[tuple[Plugin, Erased]]:
        return [(p, done) for p in self for done in p.erase(ctx)]

    def checklist(self, state: AvgState) -> list[CheckLine]:
        return [line for p in self for line in p.checklist(state)]

    def labels(self) -> dict[str, Any]:
        """Every plugin's table labels, for result pages."""
        return {name: label for p in self for name, label in p.labels.items()}

    @property
    def external(self) -> list[Plugin]:
        return [p for p in self if p.external]


def load(spec: str) -> Plugin:
    """A plugin from ``"package.module:attribute"`` (an instance, or a class to instantiate)."""
    module, _, attr = spec.partition(":")
    obj = getattr(import_module(module), attr or "plugin")
    return obj() if isinstance(obj, type) else obj  # type: ignore[no-any-return]


def installed() -> list[Plugin]:
    """Plugins offered by installed packages in the ``flask_avg.plugins`` entry-point group."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        found.append(obj() if isinstance(obj, type) else obj)
    return found
