"""The :class:`AVG` extension object, its typed per-app state, and plugin loading.

This module and ``flask_avg.core`` are the kernel: they never import a feature.
flask-avg's own features are plugins like any other, named in
:data:`BUILTIN_PLUGINS` and loaded by name (see :mod:`flask_avg.core.plugins`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, Protocol, TypeVar

import flask_babel
from flask import Flask, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import Babel
from flask_login import current_user, logout_user
from flask_principal import Identity, Principal, identity_loaded
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import ObjectDeletedError

from flask_avg.core import config as cfg
from flask_avg.core import converters, crypto, external, identity, jinja
from flask_avg.core import plugins as plugin_loader
from flask_avg.core.audit import AuditLog
from flask_avg.core.declarations import CATEGORIES, Category
from flask_avg.core.i18n import domain
from flask_avg.core.jobs import Jobs
from flask_avg.core.logins import login_column
from flask_avg.core.plugins import Plugin, Plugins
from flask_avg.core.purposes import declare as declare_purpose
from flask_avg.core.registry import Catalogue, Registry, build_registry
from flask_avg.core.resolver import Resolver
from flask_avg.core.retention_categories import RETENTION_CATEGORIES, RetentionCategory
from flask_avg.core.settings import Settings
from flask_avg.core.signals import access_denied
from flask_avg.core.stamps import Stamps

F = TypeVar("F", bound=Callable[..., Any])

#: flask-avg's own plugins, in the order they are asked: access control first (every
#: page needs it), the lifecycle engine, then the features. ``AVG_BLUEPRINTS`` decides
#: only which of their pages are mounted, never what happens to data.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "flask_avg.features.acl:plugin",
    "flask_avg.features.retention:plugin",
    "flask_avg.features.audit:plugin",
    "flask_avg.features.requests:plugin",
    "flask_avg.features.consent:plugin",
    "flask_avg.features.breaches:plugin",
    "flask_avg.features.self_service:plugin",
    "flask_avg.features.members:plugin",
    "flask_avg.features.export:plugin",
    "flask_avg.features.accountability:plugin",
    "flask_avg.features.scan:plugin",
    "flask_avg.features.safecopy:plugin",
    "flask_avg.features.backup:plugin",
    "flask_avg.features.guardians:plugin",
    "flask_avg.features.public_requests:plugin",
    "flask_avg.features.jobs:plugin",
)


class AccessControl(Protocol):
    """Who may do what; the ``acl`` plugin provides it."""

    def can(self, action: str, user: Any = None) -> bool: ...

    def load_needs(self, identity: Identity) -> Identity: ...


class Lifecycle(Protocol):
    """Erasing and purging through every plugin; the ``retention`` plugin provides it."""

    def erase_subject(self, subject_id: Any, **kwargs: Any) -> Any: ...

    def purge(self, as_of: date | None = None, **kwargs: Any) -> Any: ...

    def is_erased(self, model_name: str, key: Any, *, fresh: bool = False) -> bool: ...


class AvgState:
    """Everything flask-avg knows about one app; lives in ``app.extensions["avg"]``."""

    acl: AccessControl
    lifecycle: Lifecycle

    def __init__(self, ext: AVG, app: Flask, registry: Registry, plugins: Plugins) -> None:
        self.ext = ext
        self.db: Any = ext.db
        self.registry = registry
        self.resolver = Resolver(registry)
        self.audit = AuditLog(lambda: self.db.session, lambda: self.db.engine)
        self.settings = Settings(lambda: self.db.session)
        #: version stamps of the per-process caches (group tree, erasure ledger)
        self.stamps = Stamps(lambda: self.db.session)
        #: background jobs; plugins register their kinds (see flask_avg.core.jobs)
        self.jobs = Jobs(lambda: self.db.session)
        self.plugins = plugins
        #: the encryption keys (``AVG_ENCRYPTION_KEYS``), None when none are set
        self.keyring: crypto.Keyring | None = None
        #: every ACL action: the plugins' own, then the host's (``AVG.register_action``)
        self.actions: dict[str, Any] = {}
        for plugin in plugins:
            self.actions.update(plugin.actions)
        self.actions.update(ext._actions)
        self.catalogue = ext._catalogue()
        #: menu entries; plugins append :class:`~flask_avg.core.jinja.NavItem` in create_blueprint
        self.nav: list[jinja.NavItem] = []
        #: board dashboard panels; plugins append :class:`~flask_avg.core.dashboard.DashboardPanel`
        self.dashboard: list[Any] = []
        #: ``switch(user, own_subject) -> (subject, role) | None``: a plugin lets the
        #: current login act for another subject (a guardian for a child); see subject_for
        self.subject_switchers: list[Callable[[Any, Any], Any]] = []
        #: ``guard(state, subject_key, purpose, method)`` raising
        #: :class:`~flask_avg.core.subjects.ConsentRefused`; see ``check_consent``
        self.consent_guards: list[Callable[..., Any]] = []

    # -- subjects and users ------------------------------------------------
    def subject_for(self, user: Any) -> Any:
        """The member record a logged-in user works on (cached per request): their own,
        or, while a plugin in ``subject_switchers`` lets them act for another subject
        (a guardian for a child), that subject; :func:`~flask_avg.core.subjects.acting_for`
        then says so and audit entries about that subject record it."""
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        cache = g.setdefault("_avg_subjects", {})
        key = identity.user_key(user)
        if key not in cache:
            subject = self.own_subject_for(user)
            for switch in self.subject_switchers:
                switched = switch(user, subject)
                if switched is not None:
                    subject, role = switched
                    g._avg_acting = {
                        "subject": str(self.registry.subject.key_of(subject)[0]),
                        "role": str(role),
                        "actor": key or "",
                    }
                    break
            cache[key] = subject
        return cache[key]

    def own_subject_for(self, user: Any) -> Any:
        """The member record of a logged-in user themselves, never one they act for."""
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        cache = g.setdefault("_avg_own_subjects", {})
        key = identity.user_key(user)
        if key not in cache:
            loader = self.ext._subject_loader or self._default_subject_loader
            subject = loader(user)
            if subject is not None and self._erased(subject):
                subject = None
            cache[key] = subject
        return cache[key]

    def _erased(self, subject: Any) -> bool:
        model = self.registry.subject
        return self.is_erased(model.name, model.key_of(subject)[0])

    def is_erased(self, model: str, key: Any, *, fresh: bool = False) -> bool:
        """Whether the erasure ledger names row ``key`` of ``model`` (by name).

        ``fresh`` reads the database rather than the request's cache, as
        :func:`flask_avg.core.subjects.lock_subject` does once it holds its lock.
        """
        return self.lifecycle.is_erased(model, key, fresh=fresh)

    # -- retention and erasure ---------------------------------------------
    def erase_subject(self, subject_id: Any, **kwargs: Any) -> Any:
        """Erase one subject now, through every plugin; see
        :func:`flask_avg.features.retention.service.erase_subject`."""
        return self.lifecycle.erase_subject(subject_id, **kwargs)

    def purge(self, as_of: Any = None, **kwargs: Any) -> Any:
        """Run the retention purge; see :func:`flask_avg.features.retention.service.purge`."""
        return self.lifecycle.purge(as_of, **kwargs)

    def run_external_erasures(self) -> tuple[int, int]:
        """Carry out what plugins still owe outside the database: ``(done, failed)``."""
        return external.run(self)

    @property
    def user_model(self) -> Any:
        """The host's login model, however it became known; see
        :func:`flask_avg.core.identity.find_user_model`."""
        return identity.find_user_model(self)

    def _default_subject_loader(self, user: Any) -> Any:
        subject = self.registry.subject
        if subject.cls is not None and isinstance(user, subject.cls):
            return user
        link = login_column(self)
        if link is None or subject.cls is None:
            return None
        user_table = getattr(self.user_model, "__table__", None)
        target = next(fk.column for fk in link.foreign_keys if fk.column.table is user_table)
        value = getattr(user, target.key)
        return self.db.session.scalars(select(subject.cls).where(link == value)).first()

    def find_user(self, login: str) -> Any:
        """A user by e-mail (or whatever the host's ``user_lookup`` understands)."""
        if self.ext._user_lookup is not None:
            return self.ext._user_lookup(login)
        model: Any = self.user_model
        if model is None or not hasattr(model, "email"):
            raise RuntimeError(
                "flask-avg cannot find users by e-mail: pass user_model= to AVG (or set "
                "avg.user_model later, in an app factory) or register @avg.user_lookup"
            )
        found = select(model).where(func.lower(model.email) == login.strip().lower())
        return self.db.session.scalars(found).first()

    # -- access ------------------------------------------------------------
    def can(self, action: str, user: Any = None) -> bool:
        return self.acl.can(action, user)

    def deny(self, action: str) -> Any:
        """Refuse the current request: log in first, or a 403 page and an audit entry."""
        if not current_user.is_authenticated:
            # the login system's own way in: Flask-Login's login_view, or whatever
            # Flask-Security (or the host) made of unauthorized()
            login_view = cfg.config_value("LOGIN_VIEW")
            if login_view:
                return redirect(url_for(login_view, next=request.full_path))
            manager = getattr(current_app, "login_manager", None)
            if manager is None:
                abort(401)
            return manager.unauthorized()
        self.audit.denied(action, detail={"endpoint": request.endpoint or ""})
        access_denied.send(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            user=current_user._get_current_object(),  # type: ignore[attr-defined]
            action=action,
            endpoint=request.endpoint,
        )
        return render_template("avg/denied.html", action=action), 403


class AVG:
    """The flask-avg extension.

    ``AVG(app, db)`` or ``avg = AVG(db=db)`` and later ``avg.init_app(app)``.
    ``db`` is the host's Flask-SQLAlchemy object; flask-avg's tables live in
    the same database. ``user_model=`` names the login model when flask-avg
    cannot find it itself (Flask-Security's is found; so is a subject model
    members log in with); in an app factory it may also be set later as
    ``avg.user_model``. flask-avg uses the app's Flask-Principal (Flask-Security's)
    when there is one and never adds a second; ``principal=`` is only needed for
    a Principal created after the first request.
    """

    def __init__(
        self,
        app: Flask | None = None,
        db: Any = None,
        *,
        principal: Principal | None = None,
        user_model: type | None = None,
        plugins: Iterable[Plugin] = (),
    ) -> None:
        self.db = db
        self.principal = principal
        self.user_model = user_model
        self._plugins: list[Plugin] = list(plugins)
        self._subject_loader: Callable[[Any], Any] | None = None
        self._user_lookup: Callable[[str], Any] | None = None
        self._password_checker: Callable[[Any, str], bool] | None = None
        self._mail_sender: Callable[[Any], Any] | None = None
        #: the host's own ACL actions (the plugins' come with them)
        self._actions: dict[str, Any] = {}
        self._categories: dict[str, Category] = dict(CATEGORIES)
        self._retention: dict[str, RetentionCategory] = dict(RETENTION_CATEGORIES)
        self._consent_purposes: dict[str, Any] = {}
        #: ``@avg.before_erase(Model)`` hooks, by table
        self._erase_hooks: dict[Any, list[Callable[[list[Any], str], Any]]] = {}
        if app is not None:
            self.init_app(app)

    # -- plugins -------------------------------------------------------------
    def register_plugin(self, plugin: Plugin) -> Plugin:
        """Add a :class:`~flask_avg.core.plugins.Plugin` (before ``init_app``); returns it.

        A plugin without a name, or an object that is not a plugin, is refused here;
        a name taken twice is refused at ``init_app``, where all plugins meet.
        """
        Plugins([plugin])  # the same checks as at init_app, said where the mistake is
        self._plugins.append(plugin)
        return plugin

    def _load_plugins(self) -> Plugins:
        found = [plugin_loader.load(spec) for spec in BUILTIN_PLUGINS]
        return Plugins([*found, *plugin_loader.installed(), *self._plugins])

    # -- host hooks ----------------------------------------------------------
    def subject_loader(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Decorator: map a logged-in user to their member record (or None)."""
        self._subject_loader = func
        return func

    def before_erase(
        self, model: Any
    ) -> Callable[[Callable[[list[Any], str], Any]], Callable[[list[Any], str], Any]]:
        """Decorator: ``func(keys, action)`` is told, batch by batch, which primary keys
        of ``model`` (a declared model or table) are about to be deleted
        (``action == "delete"``), anonymised (``"anonymise"``) or, for a row kept for
        another member (``shared="keep"``), unlinked from the erased one (``"unlink"``)
        by an erasure or a purge, inside its transaction, before the statement runs.

        Erasure is set-based SQL: ORM events (``after_delete``, ...) do not fire.
        Use this to clean a search index, a cache or files kept beside the rows.
        Raising aborts the batch (nothing of it is erased).
        """
        table = getattr(model, "__table__", model)

        def decorator(func: Callable[[list[Any], str], Any]) -> Callable[[list[Any], str], Any]:
            self._erase_hooks.setdefault(table, []).append(func)
            return func

        return decorator

    def user_lookup(self, func: Callable[[str], Any]) -> Callable[[str], Any]:
        """Decorator: find a user by the login name the CLI is given (an e-mail)."""
        self._user_lookup = func
        return func

    def password_checker(self, func: Callable[[Any, str], bool]) -> Callable[[Any, str], bool]:
        """Decorator: ``func(user, password) -> bool`` re-checks a password (erasure requests).

        The default checks ``user.password_hash`` with werkzeug's ``check_password_hash``.
        """
        self._password_checker = func
        return func

    def mail_sender(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Decorator: ``func(mail)`` sends a :class:`flask_avg.features.requests.service.Mail`; default: the log."""
        self._mail_sender = func
        return func

    def not_restricted(self) -> Any:
        """SQL clause over the subject model: members whose processing is not restricted."""
        return self._feature("requests").not_restricted(self.state)

    def not_objected(self, purpose: str) -> Any:
        """SQL clause over the subject model: members who did not object to ``purpose``."""
        return self._feature("requests").not_objected(self.state, purpose)

    def _feature(self, name: str) -> Any:
        """A built-in plugin, for the proxies below (the kernel imports no feature)."""
        return self.state.plugins[name]

    def register_action(self, name: str, label: Any) -> None:
        """Add a host action such as ``"club.events.manage"`` to the ACL."""
        if "." not in name:
            raise ValueError(f"action {name!r} must be namespaced, like 'club.events.manage'")
        self._actions[name] = label
        try:
            state = current_app.extensions["avg"]
        except (RuntimeError, KeyError):
            return
        state.actions[name] = label

    def add_category(self, key: str, label: Any, *, special: bool = False) -> None:
        """Add a data category (call before ``init_app``)."""
        self._categories[key] = Category(key, label, special)

    def add_retention_category(self, category: RetentionCategory) -> None:
        """Add a retention category (call before ``init_app``)."""
        self._retention[category.key] = category

    # -- consent (flask_avg.features.consent.service) ----------------------------------------
    def consent_purpose(
        self, key: str, label: Any, text: Any, version: str, *, expires_days: int | None = None
    ) -> Any:
        """Declare a consent purpose such as ``"newsletter"``; changing ``text`` re-asks members."""
        return declare_purpose(
            self._consent_purposes, key, label, text, version, expires_days=expires_days
        )

    def has_consent(self, member: Any, purpose: str, *, current_version: bool = False) -> bool:
        """Whether ``member`` (object or key) currently agrees to ``purpose``."""
        return self._feature("consent").has_consent(
            self.state, member, purpose, current_version=current_version
        )

    def consent_filter(self, purpose: str, *, current_version: bool = False) -> Any:
        """WHERE clause for bulk mailings: ``select(Member).where(avg.consent_filter("x"))``."""
        return self._feature("consent").consent_filter(
            self.state, purpose, current_version=current_version
        )

    def record_consent(
        self,
        member: Any,
        purpose: str,
        *,
        given: bool,
        method: str = "signup_form",
        recorded_by: str | None = None,
    ) -> Any:
        """Store an answer (e.g. from the host's sign-up form) in the current transaction."""
        return self._feature("consent").record(
            self.state, member, purpose, given=given, method=method, recorded_by=recorded_by
        )

    def _catalogue(self) -> Catalogue:
        return Catalogue(categories=dict(self._categories), retention=dict(self._retention))

    # -- setup ---------------------------------------------------------------
    def init_app(self, app: Flask) -> None:
        if "avg" in app.extensions:
            raise RuntimeError("flask-avg is already registered on this app")
        if self.db is None:
            raise cfg.ConfigurationError("AVG needs the host's Flask-SQLAlchemy object: AVG(db=db)")
        if "sqlalchemy" not in app.extensions:
            raise cfg.ConfigurationError("call db.init_app(app) before avg.init_app(app)")
        if getattr(app, "login_manager", None) is None:
            raise cfg.ConfigurationError(
                "flask-avg needs Flask-Login: call login_manager.init_app(app) first"
            )
        cfg.apply_defaults(app)
        converters.register(app)
        registry = build_registry(self.db, self._catalogue())
        state = AvgState(self, app, registry, self._load_plugins())
        app.extensions["avg"] = state
        state.keyring = crypto.init_app(app, state)
        for plugin in state.plugins:
            plugin.init_app(app, state)

        # g can outlive one request when an app context is pushed around several
        # (tests, scripts); per-request answers must not leak into the next request.
        app.before_request_funcs.setdefault(None, []).insert(0, _reset_request_caches)
        self._init_babel(app)
        self._init_principal(app, state)
        jinja.install(app, state)
        app.context_processor(
            lambda: {"avg_base_template": cfg.config_value("BASE_TEMPLATE"), "avg_state": state}
        )

        from flask_avg.core import pages, web
        from flask_avg.core.cli import avg_cli, register_plugin_commands

        enabled = cfg.config_value("BLUEPRINTS", app)
        known = {"core"} | {p.blueprint for p in state.plugins if p.blueprint}
        unknown = sorted(set(enabled) - known)
        if unknown:
            raise cfg.ConfigurationError(
                f"AVG_BLUEPRINTS names unknown blueprint(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        prefix = cfg.config_value("URL_PREFIX", app)
        folders = [p.templates for p in state.plugins if p.templates]
        app.register_blueprint(web.templates_blueprint(folders))
        if "core" in enabled:
            app.register_blueprint(pages.create_blueprint(state), url_prefix=prefix)
        for plugin in state.plugins:
            if plugin.blueprint is not None and plugin.blueprint in enabled:
                blueprint = plugin.create_blueprint(state)
                if blueprint is not None:
                    app.register_blueprint(blueprint, url_prefix=prefix)
            register_plugin_commands(plugin)
        if "avg" not in app.cli.commands:
            app.cli.add_command(avg_cli)
        from flask_avg.core import migrate  # Flask-Migrate may come after: see its docstring

        migrate.init_app(app)

    def _init_babel(self, app: Flask) -> None:
        if "babel" not in app.extensions:
            Babel(
                app,
                locale_selector=preferred_locale,
                default_locale=app.config["AVG_DEFAULT_LOCALE"],
            )
        else:
            _outside_requests_too(app.extensions["babel"])
        # flask-avg templates translate through their own domain with _avg.
        app.jinja_env.globals["_avg"] = domain.gettext
        app.jinja_env.globals["_avg_n"] = domain.ngettext

    def _init_principal(self, app: Flask, state: AvgState) -> None:
        """One Principal per app: the host's (Flask-Security's) when it has one.

        flask-avg only listens to ``identity_loaded``, whoever sends it. When no
        Principal is on the app by its first request (Flask-Security may be set
        up after flask-avg in an app factory), flask-avg provides ``g.identity``
        itself, so the host's own ``Permission(...)`` checks see flask-avg's needs.
        """
        identity_loaded.connect_via(app)(lambda _app, identity: state.acl.load_needs(identity))
        if self.principal is not None or _has_principal(app):
            return

        @app.before_request
        def _avg_identity() -> None:
            if not _has_principal(app):
                g.identity = _AvgIdentity(state)

    # -- host-facing API (proxies to the current app's state) ------------------
    @property
    def state(self) -> AvgState:
        return current_app.extensions["avg"]  # type: ignore[no-any-return]

    @property
    def registry(self) -> Registry:
        return self.state.registry

    @property
    def resolver(self) -> Resolver:
        return self.state.resolver

    @property
    def audit(self) -> AuditLog:
        return self.state.audit

    @property
    def settings(self) -> Settings:
        return self.state.settings

    def can(self, action: str, user: Any = None) -> bool:
        """Whether the current user (or ``user``) may perform ``action``."""
        return self.state.can(action, user)

    def subject_for(self, user: Any) -> Any:
        return self.state.subject_for(user)

    def purge(self, as_of: Any = None, *, dry_run: bool = False, **kwargs: Any) -> Any:
        """Run the retention purge now (for Celery or APScheduler); returns a PurgeResult."""
        return self.state.purge(as_of, dry_run=dry_run, **kwargs)

    def erase(self, subject_id: Any, **kwargs: Any) -> Any:
        """Erase one subject now; returns an ErasureResult (removed, anonymised, retained)."""
        return self.state.erase_subject(subject_id, **kwargs)

    def require(self, action: str) -> Callable[[F], F]:
        """View decorator: only users allowed ``action`` get in; others get a 403 page."""
        return require(action)


def require(action: str) -> Callable[[F], F]:
    """View decorator usable without the extension object: ``@require("avg.audit.view")``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            state: AvgState = current_app.extensions["avg"]
            if not state.can(action):
                return state.deny(action)
            try:
                return _retrying_deadlocks(state, view, args, kwargs)
            except ObjectDeletedError:
                if not _user_deleted(state):
                    raise
                # the user's own erasure committed while this request ran (after the view's
                # commit expired the user, before the page read it again): the way out,
                # as for any erased session, rather than a 500
                logout_user()
                return state.deny(action)

        return wrapped  # type: ignore[return-value]

    return decorator


#: how often a view runs when the database picks its transaction as a deadlock's victim
DEADLOCK_ATTEMPTS = 3


def _retrying_deadlocks(state: AvgState, view: Any, args: Any, kwargs: Any) -> Any:
    """Run ``view``; when the database broke a deadlock by rolling this request's
    transaction back (MariaDB 1213, PostgreSQL 40P01), run it again from the start.

    Nothing of the failed attempt was stored, so running it again is what the user
    asked for: a member filing a request while the board erases them then meets the
    erasure, instead of a server error. Other errors are raised at once."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return view(*args, **kwargs)
        except DBAPIError as exc:
            if attempt == DEADLOCK_ATTEMPTS or not is_deadlock(exc):
                raise
            state.db.session.rollback()
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def is_deadlock(exc: DBAPIError) -> bool:
    """Whether the database rolled the transaction back to break a deadlock."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("40P01", "40001"):  # psycopg
        return True
    code = getattr(orig, "args", (None,))[0] if getattr(orig, "args", None) else None
    return code in (1213, 1205)  # pymysql: deadlock, lock wait timeout


def _user_deleted(state: AvgState) -> bool:
    """Whether the logged-in user's row is gone (rolls the request's transaction back)."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    found = inspect(user, raiseerr=False)
    if found is None or found.identity is None:
        return False
    state.db.session.rollback()
    return state.db.session.get(type(user), found.identity) is None


def _outside_requests_too(babel: Any) -> None:
    """Let the host's locale and timezone selectors be asked outside a request.

    Hosts often read ``request`` in them (``request.accept_languages``); flask-avg
    translates and formats dates in the CLI, in cron jobs and in ``avg.erase()``
    called from a worker too. There, Babel's defaults answer instead.
    """
    from flask import has_request_context

    for attr in ("locale_selector", "timezone_selector"):
        host = getattr(babel, attr, None)
        if host is None or getattr(host, "_avg_wrapped", False):
            continue

        def selector(host: Any = host) -> Any:
            return host() if has_request_context() else None

        selector._avg_wrapped = True  # type: ignore[attr-defined]
        setattr(babel, attr, selector)


def _has_principal(app: Flask) -> bool:
    """Whether a Flask-Principal instance (the host's, Flask-Security's) serves ``app``."""
    return any(
        isinstance(getattr(func, "__self__", None), Principal)
        for func in app.before_request_funcs.get(None, ())
    )


class _AvgIdentity(Identity):
    """The identity flask-avg provides when the app has no Principal of its own:
    the login account's key, with flask-avg's needs worked out only when read."""

    def __init__(self, state: AvgState) -> None:
        self._state = state
        self._loaded = False
        super().__init__(identity.user_key(current_user), "flask-avg")

    @property
    def provides(self) -> set[Any]:
        if not self._loaded:
            self._loaded = True
            self._state.acl.load_needs(self)
        return self._provides

    @provides.setter
    def provides(self, value: set[Any]) -> None:
        self._provides = value


_REQUEST_CACHES = (
    "_avg_identity",
    "_avg_subjects",
    "_avg_own_subjects",
    "_avg_acting",
    "_avg_settings",
    "_avg_stamps",
    "_avg_actor_labels",
    "_avg_erased",
    "_avg_ledger_entries",
)


def _reset_request_caches() -> None:
    for key in _REQUEST_CACHES:
        g.pop(key, None)
    flask_babel.refresh()


def preferred_locale() -> str:
    """The visitor's chosen language, else ``AVG_DEFAULT_LOCALE`` (Dutch by default).

    Hosts with their own Flask-Babel locale selector can call this from it.
    """
    from flask import has_request_context, session

    # The CLI and background jobs have no session: they use the default language.
    chosen = session.get("avg_locale") if has_request_context() else None
    if chosen in cfg.config_value("LOCALES"):
        return str(chosen)
    return str(cfg.config_value("DEFAULT_LOCALE"))


def get_state() -> AvgState:
    return current_app.extensions["avg"]  # type: ignore[no-any-return]
