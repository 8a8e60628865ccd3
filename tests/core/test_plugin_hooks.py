"""``@avg.before_erase(Model)``: the host is told which rows an erasure or a purge removes.

Erasure is set-based SQL, so ORM events do not fire; these hooks are how a
host cleans a search index or files kept beside its rows. On the example club
(``Member`` is anonymised; its messages, sign-ups and login account deleted;
invoices and payments kept under the fiscal hold), a hook is called once per
statement with the list of primary keys about to go, inside the transaction
and before the statement runs. A hook that raises aborts the whole erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from example_app import avg as club_avg
from example_app.models import Invoice, Member, Message, Payment, SignUp, User, db
from example_app.photos import photo_dir, save_photo
from flask_avg.core.models import ExternalErasure
from flask_avg.extension import get_state
from flask_avg.features.acl.models import GroupMember
from flask_avg.features.retention.models import LedgerEntry
from tests.support.factories import Built, full_member, message
from tests.support.self_service import audit, make_board

LONG_AGO = date.today() - timedelta(days=365 * 20)


class Hooks:
    """Registers ``before_erase`` hooks that write down what they are told, and what
    the rows looked like at that moment; removes them again when the test ends."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[list[Any], str]]] = {}
        #: per call: were all the told rows still there, unchanged?
        self.before_statement: list[bool] = []
        self._added: list[tuple[Any, Callable[..., Any]]] = []

    def watch(self, *models: Any) -> None:
        for model in models:
            self.register(model, self._recorder(model))

    def fail(self, model: Any, error: Exception) -> None:
        def hook(keys: list[Any], action: str) -> None:
            raise error

        self.register(model, hook)

    def register(self, model: Any, hook: Callable[..., Any]) -> None:
        club_avg.before_erase(model)(hook)
        self._added.append((model.__table__, hook))

    def _recorder(self, model: Any) -> Callable[..., None]:
        name = model.__name__
        pk = model.__table__.primary_key.columns.values()[0]

        def hook(keys: list[Any], action: str) -> None:
            self.calls.setdefault(name, []).append((sorted(keys), action))
            # the same session, inside the erasure's transaction: the rows are still there
            present = set(db.session.scalars(sa.select(pk).where(pk.in_(keys))))
            intact = present == set(keys)
            if model is Member:  # an anonymised row still has its values
                names = db.session.scalars(
                    sa.select(Member.__table__.c.first_name).where(pk.in_(keys))
                )
                intact = intact and all(n.startswith("Voornaam") for n in names)
            self.before_statement.append(intact)

        return hook

    def remove(self) -> None:
        for table, hook in self._added:
            registered = club_avg._erase_hooks[table]
            registered.remove(hook)
            if not registered:
                del club_avg._erase_hooks[table]


@pytest.fixture
def hooks(app) -> Iterator[Hooks]:
    before = {table: list(found) for table, found in club_avg._erase_hooks.items()}
    recorder = Hooks()
    yield recorder
    recorder.remove()
    assert club_avg._erase_hooks == before


def _sorted(calls: list[tuple[list[Any], str]]) -> list[tuple[list[Any], str]]:
    return sorted(calls, key=lambda c: (c[1], c[0]))


def _recent_money(built: Built) -> None:
    """Invoices and payments of today: under the fiscal hold whatever the date."""
    today = date.today()
    db.session.execute(
        sa.update(Invoice).where(Invoice.member_id == built.member.id).values(invoice_date=today)
    )
    db.session.execute(
        sa.update(Payment)
        .where(
            Payment.invoice_id.in_(
                sa.select(Invoice.id).where(Invoice.member_id == built.member.id)
            )
        )
        .values(paid_on=today)
    )


def _signup_today(built: Built) -> None:
    db.session.execute(
        sa.update(SignUp)
        .where(SignUp.member_id == built.member.id)
        .values(signed_up_on=date.today())
    )


def test_erasing_a_member_tells_each_hook_the_keys_of_each_statement(app, hooks):
    me, other = full_member(1), full_member(2)
    sent = [message(me, other).id, message(me, other).id]
    received = message(other, me).id
    between_others = message(other, other).id
    _recent_money(me)
    db.session.commit()
    my_id, my_user = me.member.id, me.user.id
    [signup] = me.ids["SignUp"]
    hooks.watch(Message, SignUp, Member, User, Invoice, Payment)

    get_state().erase_subject(my_id)

    # one call per statement: the two foreign keys to the member are two DELETEs
    assert _sorted(hooks.calls["Message"]) == [
        (sorted(sent), "delete"),
        ([received], "delete"),
    ]
    assert hooks.calls["SignUp"] == [([signup], "delete")]
    assert hooks.calls["Member"] == [([my_id], "anonymise")]
    assert hooks.calls["User"] == [([my_user], "delete")]
    assert "Invoice" not in hooks.calls and "Payment" not in hooks.calls  # held: they stay
    assert all(hooks.before_statement) and len(hooks.before_statement) == 5
    assert all(type(k) is int for c in hooks.calls.values() for keys, _ in c for k in keys)
    # what the hooks were told is exactly what went
    db.session.rollback()
    left = set(db.session.scalars(sa.select(Message.id)))
    assert left == {between_others}
    assert db.session.get(User, my_user) is None
    assert db.session.get(User, other.user.id) is not None
    assert len(db.session.scalars(sa.select(Invoice).where(Invoice.member_id == my_id)).all()) == 2


def test_the_purge_tells_the_hooks_once_per_statement_for_the_whole_batch(app, hooks):
    gone1, gone2, stays = full_member(1), full_member(2), full_member(3)
    gone1.member.end_date = gone2.member.end_date = LONG_AGO
    to_stays = [message(gone1, stays).id, message(gone2, stays).id]
    from_stays = message(stays, gone1).id
    _signup_today(stays)
    db.session.commit()
    gone = sorted([gone1.member.id, gone2.member.id])
    gone_users = sorted([gone1.user.id, gone2.user.id])
    gone_signups = sorted(gone1.ids["SignUp"] | gone2.ids["SignUp"])
    hooks.watch(Message, SignUp, Member, User)

    result = get_state().purge()

    assert hooks.calls["Member"] == [(gone, "anonymise")]
    assert hooks.calls["User"] == [(gone_users, "delete")]
    assert hooks.calls["SignUp"] == [(gone_signups, "delete")]
    assert _sorted(hooks.calls["Message"]) == [
        (sorted(to_stays), "delete"),
        ([from_stays], "delete"),
    ]
    assert all(hooks.before_statement)
    assert result.categories["members"]["Member"].anonymised == 2


def test_each_purge_batch_is_told_apart(app, hooks):
    gone1, gone2 = full_member(1), full_member(2)
    gone1.member.end_date = gone2.member.end_date = LONG_AGO
    db.session.commit()
    app.config["AVG_PURGE_BATCH_SIZE"] = 1
    hooks.watch(Member)
    get_state().purge()
    assert hooks.calls["Member"] == [
        ([gone1.member.id], "anonymise"),
        ([gone2.member.id], "anonymise"),
    ]


def test_a_dry_run_purge_tells_the_hooks_and_then_changes_nothing(app, hooks):
    gone = full_member(1)
    gone.member.end_date = LONG_AGO
    db.session.commit()
    hooks.watch(Member)
    get_state().purge(dry_run=True)
    # the hook runs in the transaction the dry run rolls back: it must not act for good
    assert hooks.calls["Member"] == [([gone.member.id], "anonymise")]
    db.session.rollback()
    assert db.session.get(Member, gone.member.id).first_name == "Voornaam1"


def _with_everything(n: int) -> tuple[Built, Built]:
    """A board member with a message, a photo and group memberships, and a friend."""
    me = make_board(full_member(n))
    friend = full_member(n + 1)
    message(me, friend)
    db.session.commit()
    save_photo(me.member.id, "<svg/>")
    return me, friend


def _changed(member_id: int, user_id: int, photo: Path) -> list[str]:
    """What of the member changed, as another connection sees the database."""
    count = sa.func.count()
    ledger = sa.or_(
        (LedgerEntry.model == "Member") & (LedgerEntry.key == str(member_id)),
        (LedgerEntry.model == "User") & (LedgerEntry.key == str(user_id)),
    )
    with db.engine.connect() as conn:
        checks = {
            "member anonymised": conn.scalar(
                sa.select(Member.__table__.c.first_name).where(Member.id == member_id)
            )
            != "Voornaam1",
            "login deleted": conn.scalar(sa.select(count).where(User.id == user_id)) != 1,
            "message deleted": conn.scalar(sa.select(count).where(Message.sender_id == member_id))
            != 1,
            "group membership deleted": conn.scalar(
                sa.select(count).where(GroupMember.user_id == str(user_id))
            )
            != 1,
            "ledger written": conn.scalar(sa.select(count).where(ledger)) != 0,
            "external erasure queued": conn.scalar(
                sa.select(count).where(ExternalErasure.subject == str(member_id))
            )
            != 0,
        }
    checks["photo deleted"] = not photo.exists()
    return [what for what, changed in checks.items() if changed]


def test_a_hook_that_raises_aborts_the_erasure_with_nothing_changed(app, hooks):
    me, _friend = _with_everything(1)
    member_id, user_id = me.member.id, me.user.id
    photo = photo_dir() / f"{member_id}.svg"
    hooks.fail(Message, RuntimeError("search index down"))

    with pytest.raises(RuntimeError, match="search index down"):
        get_state().erase_subject(member_id)

    assert _changed(member_id, user_id, photo) == []
    db.session.rollback()
    assert audit("subject.erased") == []
    assert not get_state().lifecycle.is_erased("Member", member_id)


def test_a_hook_that_raises_aborts_the_purge_batch(app, hooks):
    me, _friend = _with_everything(1)
    me.member.end_date = LONG_AGO
    db.session.commit()
    member_id, user_id = me.member.id, me.user.id
    photo = photo_dir() / f"{member_id}.svg"
    hooks.fail(Member, RuntimeError("search index down"))

    with pytest.raises(RuntimeError, match="search index down"):
        get_state().purge()

    db.session.rollback()
    assert _changed(member_id, user_id, photo) == []
    assert audit("retention.purge") == []


def test_a_failed_erasure_is_not_committed_by_the_next_one(app, hooks):
    me, _friend = _with_everything(1)
    next_one = full_member(3)  # shares nothing with the first
    db.session.commit()
    member_id, user_id, next_id = me.member.id, me.user.id, next_one.member.id
    photo = photo_dir() / f"{member_id}.svg"
    told: list[list[Any]] = []

    def refuse_the_first(keys: list[Any], action: str) -> None:
        told.append(keys)
        if len(told) == 1:
            raise RuntimeError("search index down")

    hooks.register(Member, refuse_the_first)
    with pytest.raises(RuntimeError):
        get_state().erase_subject(member_id)
    # a batch job carries on with the next member
    get_state().erase_subject(next_id)
    assert _changed(member_id, user_id, photo) == []


def test_the_purge_tells_the_hooks_of_stale_login_accounts(app, hooks):
    from datetime import datetime

    gone = full_member(1)
    gone.member.end_date = date(2020, 1, 1)
    gone.user.last_login = datetime(2020, 1, 1)
    db.session.commit()
    gone_user = gone.user.id
    app.config["AVG_STALE_ACCOUNT_DAYS"] = 365
    hooks.watch(User)
    # as of a day the member is not yet expired, but the account is stale
    result = get_state().purge(date(2026, 1, 1))
    assert result.stale_accounts == 1
    assert db.session.get(User, gone_user) is None
    assert hooks.calls.get("User") == [([gone_user], "delete")]
