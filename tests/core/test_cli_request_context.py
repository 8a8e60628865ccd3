"""Every ``flask avg`` command runs on a host whose locale selector reads ``request``.

Translations ask the host's Flask-Babel locale selector; outside a request context one that
reads ``request`` raises "Working outside of request context". The cases are a table over
every registered command, so a command added without a case here fails the test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from flask import Flask
from sqlalchemy import select

from flask_avg.core.cli import avg_cli
from flask_avg.core.models import AuditEntry
from tests.support import factory_host
from tests.support.factory_host import Post, User, db, running

Args = Callable[[Path], list[str]]


def _key(tmp: Path) -> str:
    """A backup key file (64 hex digits)."""
    path = tmp / "backup.key"
    path.write_text("ab" * 32, encoding="utf-8")
    return str(path)


#: Each command with valid arguments, in the order they run (init-db creates the tables).
CASES: dict[tuple[str, ...], Args] = {
    ("init-db",): lambda tmp: [],
    ("upgrade",): lambda tmp: [],
    ("check",): lambda tmp: [],
    ("inventory",): lambda tmp: [],
    ("register",): lambda tmp: [],
    ("annex",): lambda tmp: ["-o", str(tmp / "annex.md")],
    ("plugins", "list"): lambda tmp: [],
    ("plugins", "retry"): lambda tmp: [],
    ("acl", "groups"): lambda tmp: [],
    ("acl", "assign"): lambda tmp: ["ada@example.org", "board"],
    ("acl", "check"): lambda tmp: ["ada@example.org", "avg.audit.view"],
    ("requests",): lambda tmp: ["--all"],
    ("consent-reminders",): lambda tmp: [],
    ("guardians",): lambda tmp: [],
    ("export",): lambda tmp: ["1", "--format", "json", "-o", str(tmp / "export.json")],
    ("purge",): lambda tmp: [],
    ("notify-overdue",): lambda tmp: [],
    ("scan",): lambda tmp: [],
    ("anonymised-copy",): lambda tmp: ["--to", f"sqlite:///{tmp / 'copy.db'}"],
    ("backup",): lambda tmp: ["-o", str(tmp / "club.avgbak"), "--key-file", _key(tmp)],
    ("erase",): lambda tmp: ["1"],
    ("export-ledger",): lambda tmp: ["-o", str(tmp / "ledger.json")],
    ("replay-erasures",): lambda tmp: [str(tmp / "ledger.json")],
    # restores the backup taken before the erasure, then erases user 1 again
    ("restore",): lambda tmp: [str(tmp / "club.avgbak"), "--key-file", _key(tmp)],
    ("generate-key",): lambda tmp: ["--id", "k2"],
    ("rotate-keys",): lambda tmp: [],
    ("encrypt-existing",): lambda tmp: [],
    ("audit", "head"): lambda tmp: ["-o", str(tmp / "audit-head.json")],
    ("audit", "verify"): lambda tmp: ["--head", str(tmp / "audit-head.json")],
    ("jobs", "export-members"): lambda tmp: ["--format", "csv", "-o", str(tmp / "members.csv")],
    ("jobs", "list"): lambda tmp: [],
    ("jobs", "retry"): lambda tmp: [],
    ("jobs", "expire"): lambda tmp: [],
    ("jobs", "worker"): lambda tmp: [],
}


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every leaf command under ``group``, nested groups walked."""
    paths: set[tuple[str, ...]] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths |= command_paths(command, (*prefix, name))
        else:
            paths.add((*prefix, name))
    return paths


@pytest.fixture
def host(db_url: str) -> Iterator[Flask]:
    with running(db_url, AVG_AUDIT_IP=True) as app:
        db.create_all()
        yield app


def test_every_registered_command_has_a_case():
    factory_host.create_app("sqlite://")  # registers the plugins' commands
    assert command_paths(avg_cli) == set(CASES)


@pytest.mark.db
def test_every_command_runs_when_the_locale_selector_reads_the_request(host, tmp_path):
    user = User(email="ada@example.org", name="Ada", password_hash="x")
    db.session.add(user)
    db.session.flush()
    db.session.add(Post(author_id=user.id, body="hello"))
    db.session.commit()
    assert user.id == 1
    db.session.commit()  # no transaction left open: the restore replaces the tables
    runner = host.test_cli_runner()
    factory_host.locales_chosen.clear()
    results = []

    def run_all() -> None:
        for path, args in CASES.items():
            results.append((path, runner.invoke(avg_cli, [*path, *args(tmp_path)])))

    # A new thread starts without the test's app context, as `flask avg ...` does.
    thread = threading.Thread(target=run_all)
    thread.start()
    thread.join()

    assert [path for path, _result in results] == list(CASES)
    for path, result in results:
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            path,
            result.output,
            result.exception,
        )
        assert result.exit_code == 0, (path, result.output)

    # the selector was really asked (and could read the request) while commands ran
    assert factory_host.locales_chosen
    assert (tmp_path / "annex.md").read_text(encoding="utf-8")
    db.session.remove()
    # the commands were audited, without a made-up client address
    entries = db.session.scalars(select(AuditEntry)).all()
    assert "cli" in {e.actor for e in entries}
    assert [e.ip for e in entries] == [None] * len(entries)
    assert db.session.get(User, 1) is None
    assert db.session.query(Post).count() == 0
