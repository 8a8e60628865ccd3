"""Encrypted values are bound to their row (format ``v2``), on every database leg.

A value copied to another row of the same column, or to another column, does not
decrypt, read through the ORM or through a Core select; inserts, updates and bulk
inserts through the ORM write row-bound values; values written before (``v1``, or by
a Core insert that does not know its row) still read, ``rotate-keys`` seals them to
their rows, and ``AVG_ENCRYPTION_ROW_BOUND`` refuses them after that.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Mapped, aliased, mapped_column

from example_app.models import Member, db
from flask_avg import AVG, ConfigurationError, Encrypted, SubjectMixin
from flask_avg.core import crypto
from flask_avg.core.crypto import CryptoError, DecryptionError
from tests.core.test_crypto import NEW, OLD, _raw_notes, club
from tests.support.app import make_app

TABLE = Member.__table__
NOTES = TABLE.c.medical_notes


def _member(n: int, notes: str | None) -> Member:
    return Member(
        member_number=f"B{n:04d}",
        first_name="Lid",
        last_name=f"Nummer {n}",
        email=f"b{n}@example.org",
        start_date=date(2020, 1, 1),
        medical_notes=notes,
    )


def _stored(member_id: int) -> str:
    with db.engine.connect() as conn:
        return conn.execute(select(crypto.raw(NOTES)).where(TABLE.c.id == member_id)).scalar_one()


def _put(member_id: int, token: str) -> None:
    """Write a stored value as it is (an attacker with database access)."""
    with db.engine.begin() as conn:
        conn.execute(
            update(TABLE)
            .where(TABLE.c.id == member_id)
            .values({"medical_notes": sa.type_coerce(sa.literal(token), sa.Text())})
        )


def _read_orm(member_id: int) -> str | None:
    db.session.rollback()  # a fresh snapshot (MariaDB reads repeatably) and nothing cached
    return db.session.get(Member, member_id).medical_notes


def _read_core(member_id: int) -> str | None:
    with db.engine.connect() as conn:
        return conn.execute(select(NOTES).where(TABLE.c.id == member_id)).scalar_one()


def test_a_value_copied_to_another_row_does_not_decrypt(app, db_url):
    with club(db_url, OLD):
        alice, mallory = _member(1, "epilepsie"), _member(2, "niets")
        db.session.add_all([alice, mallory])
        db.session.commit()
        stolen = _stored(alice.id)
        assert stolen.startswith("v2:t1:")
        _put(mallory.id, stolen)
        with pytest.raises(DecryptionError, match="moved from another column or row"):
            _read_orm(mallory.id)
        with pytest.raises(DecryptionError, match="moved from another column or row"):
            _read_core(mallory.id)
        with pytest.raises(DecryptionError):  # the board's list, selecting many rows
            db.session.scalars(select(Member.medical_notes)).all()
        # the rightful row still reads it, through the ORM, Core, an alias and a subquery
        assert _read_orm(alice.id) == "epilepsie"
        assert _read_core(alice.id) == "epilepsie"
        other = aliased(Member)
        assert db.session.scalar(select(other.medical_notes).where(other.id == alice.id)) == (
            "epilepsie"
        )
        sub = select(TABLE.c.id, NOTES).where(TABLE.c.id == alice.id).subquery()
        with db.engine.connect() as conn:
            assert conn.execute(select(sub.c.medical_notes)).scalar_one() == "epilepsie"
            # a subquery that drops the key cannot say which row the value belongs to
            keyless = select(NOTES).where(TABLE.c.id == alice.id).subquery()
            with pytest.raises(DecryptionError, match="did not select the row's primary key"):
                conn.execute(select(keyless.c.medical_notes)).scalar_one()
        db.session.remove()


def test_a_value_copied_to_another_column_does_not_decrypt(app, db_url):
    other = sa.MetaData()
    elsewhere = sa.Table(
        "crypto_rows_elsewhere",
        other,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notes", crypto.Encrypted()),
    )
    with club(db_url, OLD):
        alice = _member(1, "epilepsie")
        db.session.add(alice)
        db.session.commit()
        other.create_all(db.engine)
        try:
            with db.engine.begin() as conn:
                # the same row key (id) in another table and column
                conn.execute(insert(elsewhere).values(id=alice.id))
                conn.execute(
                    update(elsewhere).values(
                        notes=sa.type_coerce(sa.literal(_stored(alice.id)), sa.Text())
                    )
                )
            with db.engine.connect() as conn, pytest.raises(DecryptionError):
                conn.execute(select(elsewhere.c.notes)).scalar_one()
        finally:
            other.drop_all(db.engine)
        db.session.remove()


def test_insert_update_and_bulk_insert_through_the_orm_are_row_bound(app, db_url):
    with club(db_url, OLD):
        # insert: the database makes the key, the value is sealed to it in the same flush
        one = _member(1, "astma")
        db.session.add(one)
        db.session.commit()
        assert type(one.medical_notes) is str and one.medical_notes == "astma"
        # add_all: several rows in one flush
        many = [_member(n, f"notitie {n}") for n in range(2, 6)]
        db.session.add_all(many)
        db.session.commit()
        # update of a loaded row: bound to its key at once
        one.medical_notes = "astma, pinda-allergie"
        many[0].medical_notes = None
        db.session.commit()
        # ORM bulk insert: keys from the database (RETURNING), and keys given
        db.session.execute(
            insert(Member),
            [
                {
                    "member_number": f"K{n}",
                    "first_name": "Bulk",
                    "last_name": str(n),
                    "email": f"k{n}@example.org",
                    "start_date": date(2021, 1, 1),
                    "medical_notes": f"bulk {n}" if n % 2 else None,
                }
                for n in range(6)
            ],
        )
        db.session.execute(
            insert(Member),
            [
                {
                    "id": 1000 + n,
                    "member_number": f"E{n}",
                    "first_name": "Gegeven",
                    "last_name": str(n),
                    "email": f"e{n}@example.org",
                    "start_date": date(2021, 1, 1),
                    "medical_notes": f"eigen sleutel {n}",
                }
                for n in range(3)
            ],
        )
        db.session.commit()
        db.session.expire_all()
        rows = db.session.execute(select(Member.id, Member.medical_notes).order_by(Member.id))
        notes = dict(rows.all())
        assert notes[one.id] == "astma, pinda-allergie"
        assert notes[many[0].id] is None
        assert [notes[m.id] for m in many[1:]] == [f"notitie {n}" for n in range(3, 6)]
        assert sorted(v for v in notes.values() if v and v.startswith("bulk")) == [
            "bulk 1",
            "bulk 3",
            "bulk 5",
        ]
        assert [notes[1000 + n] for n in range(3)] == [f"eigen sleutel {n}" for n in range(3)]
        stored = [v for v in _raw_notes() if v is not None]
        assert len(stored) == 1 + 3 + 3 + 3
        assert all(v.startswith("v2:t1:") for v in stored)
        # every one of them is bound to its own row: moved one row on, none decrypts
        ids = sorted(k for k, v in notes.items() if v is not None)
        tokens = {i: _stored(i) for i in ids}
        for here, there in zip(ids, ids[1:] + ids[:1], strict=True):
            _put(there, tokens[here])
        for member_id in ids:
            with pytest.raises(DecryptionError):
                _read_core(member_id)
        db.session.remove()


def test_core_writes_are_column_bound_until_rotation_seals_them_to_their_rows(app, db_url):
    with club(db_url, OLD):
        with db.engine.begin() as conn:  # a Core insert does not know its row
            conn.execute(
                insert(TABLE),
                [
                    {
                        "member_number": f"C{n}",
                        "first_name": "Core",
                        "last_name": str(n),
                        "email": f"c{n}@example.org",
                        "start_date": date(2021, 1, 1),
                        "medical_notes": f"oud {n}",
                    }
                    for n in range(5)
                ],
            )
        assert all(v.startswith("v1:t1:") for v in _raw_notes())
        assert db.session.scalars(select(Member.medical_notes).order_by(Member.id)).all() == [
            f"oud {n}" for n in range(5)
        ]
        db.session.remove()
    # the strict setting refuses to start while column-bound values remain
    with pytest.raises(ConfigurationError, match="format v1"):
        make_app(db_url, AVG_ENCRYPTION_KEYS=OLD, AVG_ENCRYPTION_ROW_BOUND=True)
    # rotation under the same key upgrades them; under a new one too
    with club(db_url, OLD) as site:
        result = site.test_cli_runner().invoke(args=["avg", "rotate-keys", "--batch-size", "2"])
        assert result.exit_code == 0, result.output
        assert "5 value(s) re-encrypted under key t1" in result.output
        assert all(v.startswith("v2:t1:") for v in _raw_notes())
        db.session.remove()
    with club(db_url, f"{NEW},{OLD}") as site:
        result = site.test_cli_runner().invoke(args=["avg", "rotate-keys"])
        assert "5 value(s) re-encrypted under key t2" in result.output
        db.session.remove()
    with club(db_url, NEW) as site:
        site.extensions["avg"].keyring = dataclasses.replace(
            site.extensions["avg"].keyring, row_bound=True
        )
        assert db.session.scalars(select(Member.medical_notes).order_by(Member.id)).all() == [
            f"oud {n}" for n in range(5)
        ]
        db.session.remove()
    # strict from now on: it starts, reads, and refuses writes that do not know their row
    strict = make_app(db_url, AVG_ENCRYPTION_KEYS=NEW, AVG_ENCRYPTION_ROW_BOUND=True)
    with strict.app_context():
        try:
            assert strict.extensions["avg"].keyring.row_bound
            member = db.session.scalars(select(Member).order_by(Member.id)).first()
            member.medical_notes = "nieuw"
            db.session.commit()
            assert _stored(member.id).startswith("v2:t2:")
            refused = pytest.raises(sa.exc.StatementError, match="does not know its row")
            with refused, db.engine.begin() as conn:
                conn.execute(update(TABLE).values(medical_notes="overal hetzelfde"))
            # a column-bound value written behind its back is refused, never shown
            v1 = crypto.Keyring.parse(NEW).seal("oud", "members", "medical_notes", None)
            _put(member.id, v1)
            with pytest.raises(DecryptionError, match="AVG_ENCRYPTION_ROW_BOUND refuses"):
                _read_core(member.id)
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_changed_primary_key_takes_its_encrypted_values_along(app, db_url):
    with club(db_url, OLD):
        member = _member(1, "diabetes")
        db.session.add(member)
        db.session.commit()
        db.session.expire_all()
        member = db.session.get(Member, member.id)
        member.id = member.id + 500
        db.session.commit()
        assert _read_core(member.id) == "diabetes"
        db.session.remove()


def test_the_row_key_of_a_text_key_is_unambiguous():
    table = sa.Table(
        "crypto_rows_pair",
        sa.MetaData(),
        sa.Column("a", sa.String(20), primary_key=True),
        sa.Column("b", sa.Integer, primary_key=True),
    )
    assert crypto.row_text(table, ["x|1", 2]) == "x%7C1|2"
    assert crypto.row_text(table, ["x", 12]) == "x|12"
    assert crypto.row_text(table, ["100%", 1]) == "100%25|1"
    assert crypto.row_text(table, [None, 1]) is None
    ring = crypto.Keyring.parse(OLD)
    token = ring.seal("geheim", "t", "c", "x%7C1|2")
    assert ring.open(token, "t", "c", "x%7C1|2") == "geheim"
    with pytest.raises(DecryptionError):
        ring.open(token, "t", "c", "x|1|2")
    with pytest.raises(CryptoError, match="does not know its row"):
        dataclasses.replace(ring, row_bound=True).seal("x", "t", "c", None)


def test_erasure_with_a_fixed_value_seals_one_constant_it_recognises(app, db_url):
    """``anonymise="fixed"`` on an encrypted column: erasure writes the constant sealed
    once (format c2, the same in every row), reads it back, and a second run sees the
    row as done."""
    from flask_avg.features.retention import anonymise

    with club(db_url, OLD) as site:
        state = site.extensions["avg"]
        model = next(m for m in state.registry if m.table is TABLE)
        spec = model.columns["medical_notes"]
        model.columns["medical_notes"] = dataclasses.replace(
            spec, anonymise="fixed", anonymise_value="geen"
        )
        try:
            gone, kept = _member(1, "astma"), _member(2, "diabetes")
            db.session.add_all([gone, kept])
            db.session.commit()
            state.erase_subject(gone.id, actor="cli")
            db.session.commit()
            constant = _stored(gone.id)
            assert constant.startswith("c2:t1:")
            assert _read_orm(gone.id) == "geen" and _read_orm(kept.id) == "diabetes"
            assert _stored(kept.id).startswith("v2:t1:")
            vals = anonymise.values(model)
            assert anonymise.sql(vals)["medical_notes"] is not None
            with db.engine.connect() as conn:
                todo = select(sa.func.count()).select_from(TABLE)
                left = todo.where(TABLE.c.id == gone.id, anonymise.not_anonymised(model, vals))
                assert conn.execute(left).scalar() == 0
                other = todo.where(TABLE.c.id == kept.id, anonymise.not_anonymised(model, vals))
                assert conn.execute(other).scalar() == 1
        finally:
            model.columns["medical_notes"] = spec
        db.session.remove()
    # rotation keeps a constant a constant, under the new key
    with club(db_url, f"{NEW},{OLD}") as rotating:
        result = rotating.test_cli_runner().invoke(args=["avg", "rotate-keys"])
        assert result.exit_code == 0, result.output
        assert _stored(gone.id).startswith("c2:t2:")
        assert _stored(kept.id).startswith("v2:t2:")
        assert _read_orm(gone.id) == "geen" and _read_orm(kept.id) == "diabetes"
        db.session.remove()


def test_a_composite_text_key_binds_unambiguously(app, db_url):
    """A key of a text and a number, the text holding ``|`` and ``%``: each value reads in
    its own row only, on every leg."""
    database = SQLAlchemy()

    class Person(database.Model, SubjectMixin):
        __tablename__ = "crypto_pair_people"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Note(database.Model):
        __tablename__ = "crypto_pair_notes"
        code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
        n: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str | None] = mapped_column(Encrypted())

    host = Flask(__name__)
    host.config.update(SECRET_KEY="t", SQLALCHEMY_DATABASE_URI=db_url, AVG_ENCRYPTION_KEYS=OLD)
    database.init_app(host)
    LoginManager(host)
    with host.app_context():
        database.create_all()
    try:
        AVG(host, database)
        with host.app_context():
            # "a|b",1 and "a",... would join alike without escaping: "a|b|1"
            database.session.add_all(
                [
                    Note(code="a|b", n=1, body="een"),
                    Note(code="a", n=1, body="twee"),
                    Note(code="100%", n=2, body="drie"),
                ]
            )
            database.session.commit()
            notes = Note.__table__
            with database.engine.connect() as conn:
                rows = conn.execute(select(notes.c.code, notes.c.body).order_by(notes.c.n)).all()
                assert sorted(rows) == [("100%", "drie"), ("a", "twee"), ("a|b", "een")]
                stored = dict(conn.execute(select(notes.c.code, crypto.raw(notes.c.body))).all())
            with database.engine.begin() as conn:
                conn.execute(
                    update(notes)
                    .where(notes.c.code == "a")
                    .values(body=sa.type_coerce(stored["a|b"], sa.Text()))
                )
            with database.engine.connect() as conn, pytest.raises(DecryptionError):
                conn.execute(select(notes.c.body).where(notes.c.code == "a")).scalar_one()
            database.session.remove()
    finally:
        with host.app_context():
            database.drop_all()
            database.engine.dispose()
