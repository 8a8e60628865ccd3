"""What the conformance scenario needs from a host application, and helpers over it.

A :class:`Host` wraps one host application written for the tests (or the
example club): it makes the app for a database URL, seeds people, logs a
client in its own way, and says by direct SQL which rows belong to a person,
so the scenario can compare flask-avg's export and erasure with the truth.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_login import current_user

from flask_avg.core import crypto
from tests.support.app import csrf_token

MARK_START = "# --- flask-avg integration"
MARK_END = "# --- end of flask-avg integration"
WHOAMI = "/_test/whoami"


@dataclass
class Person:
    """Someone with a login on a host."""

    user_id: int
    subject_id: Any
    email: str
    password: str
    #: the person's name on the board's pages when the host's records name people
    name: str | None = None

    @property
    def actor_label(self) -> str:
        """How the audit log names this person as the one who acted: "Name (e-mail)"
        when the host's records name people, else the login's e-mail."""
        return f"{self.name} ({self.email})" if self.name else self.email


class Host:
    """One host application, as the conformance scenario drives it."""

    #: short name, also the database name suffix
    name: str
    #: the host's Flask-SQLAlchemy object
    db: Any
    #: the login model, and its table
    user_model: Any
    login_table: str
    #: files holding the host's marked flask-avg integration
    sources: tuple[Path, ...]
    #: what the docs say the integration takes (see :func:`integration_lines`)
    documented_lines: int
    #: tables whose rows an erasure keeps under a legal hold (the rest must go or be blanked)
    holds: frozenset[str] = frozenset()
    #: a page of the host's own that only its "board" (or moderator) role may see
    role_url: str
    #: the host role that page needs; None when the host has no roles of its own
    host_role: str | None = None
    #: the query string the host's login manager adds when it sends a visitor to log in
    login_redirect: str = "/login"

    def create_app(self, url: str) -> Flask:
        raise NotImplementedError

    def app(self, url: str) -> Flask:
        """The host's app with a test-only page saying who is logged in."""
        app = self.create_app(url)
        app.add_url_rule(WHOAMI, "test_whoami", _whoami)
        return app

    def after_empty(self) -> None:
        """Put back what an empty database needs (the club's groups, the shop's roles)."""

    # -- people -------------------------------------------------------------
    def person(self, n: int, *, held: bool = True, old: bool = False) -> Person:
        """Someone with rows in every model; ``held``: also rows a legal hold keeps;
        ``old``: everything long past its retention."""
        raise NotImplementedError

    def link(self, a: Person, b: Person) -> None:
        """Rows ``a`` and ``b`` share (a message between them, a follow)."""
        raise NotImplementedError

    def new_account(self, email: str, password: str, user_id: int | None = None) -> Person:
        raise NotImplementedError

    def change_password(self, person: Person, password: str) -> None:
        raise NotImplementedError

    def give_role(self, person: Person, role: str) -> None:
        raise NotImplementedError

    def user(self, user_id: int) -> Any:
        return self.db.session.get(self.user_model, user_id)

    def login(self, client: FlaskClient, person: Person, *, remember: bool = False) -> None:
        raise NotImplementedError

    # -- the truth, by direct SQL -----------------------------------------------
    #: table -> SQL selecting the rows of person ``:uid`` (login) / ``:sid`` (subject)
    owned_sql: dict[str, str]

    def owned(self, person: Person) -> dict[str, list[sa.Row[Any]]]:
        """Per table, the rows that belong to ``person``, by the host's own SQL."""
        params = {"uid": person.user_id, "sid": person.subject_id}
        tables = self.db.metadata.tables
        with self.db.engine.connect() as conn:
            # typed like the table's columns, so values compare with the ORM's
            return {
                table: [
                    _opened(tables[table], row)
                    for row in conn.execute(sa.text(sql).columns(*_typed(tables[table])), params)
                ]
                for table, sql in self.owned_sql.items()
            }

    def search(self, words: str) -> list[Any] | None:
        """Hits in the host's search index; None for a host without one."""
        return None


def _whoami() -> str:
    return str(current_user.email) if current_user.is_authenticated else "anonymous"


def integration_lines(host: Host) -> int:
    """Code lines (not blank, not comments) inside the host's marked integration blocks."""
    count = 0
    for path in host.sources:
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if text.startswith(MARK_END):
                inside = False
            elif text.startswith(MARK_START):
                inside = True
            elif inside and text and not text.startswith("#"):
                count += 1
    return count


def row_hash(row: Any) -> str:
    return repr(tuple(str(v) for v in row))


def all_rows(host: Host) -> dict[str, Counter[str]]:
    """Every row of every host table, hashed (a multiset: tables without keys too)."""
    with host.db.engine.connect() as conn:
        return {
            table.name: Counter(row_hash(r) for r in conn.execute(sa.select(table)))
            for table in host.db.metadata.sorted_tables
        }


def others_rows(host: Host, person: Person) -> dict[str, Counter[str]]:
    """Every row that does not belong to ``person``, hashed."""
    rows = all_rows(host)
    for table, mine in host.owned(person).items():
        rows[table] -= Counter(row_hash(r) for r in mine)
    return rows


def form_login(
    client: FlaskClient, email: str, password: str, *, remember: bool = False, url: str = "/login"
) -> None:
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, url)}
    if remember:
        data["remember"] = "y"
    response = client.post(url, data=data)
    assert response.status_code == 302, f"login as {email} failed ({response.status_code})"


def whoami(client: FlaskClient) -> str:
    return client.get(WHOAMI).get_data(as_text=True)


def _typed(table: sa.Table) -> list[Any]:
    """The table's columns as types for a text query; an encrypted column read as its
    stored text (a text query selects no row key, which a row-bound value needs)."""
    return [sa.column(c.name, sa.Text()) if crypto.is_encrypted(c) else c for c in table.columns]


class _OpenedRow(tuple[Any, ...]):
    """A row whose encrypted values were opened: a tuple with ``_mapping``, like a Row."""

    names: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self.names, self, strict=True))


def _opened(table: sa.Table, row: sa.Row[Any]) -> Any:
    """``row`` with its encrypted values opened with the row's own key, as the ORM does."""
    sealed = [c for c in table.columns if crypto.is_encrypted(c)]
    if not sealed:
        return row
    values = dict(row._mapping)
    where = crypto.row_text(table, [values[c.name] for c in table.primary_key.columns])
    ring = crypto.current_keyring()
    for col in sealed:
        if values[col.name] is not None:
            values[col.name] = ring.open(values[col.name], table.name, col.name, where)
    opened = _OpenedRow(values.values())
    opened.names = tuple(values)
    return opened
