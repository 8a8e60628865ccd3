"""The free-text scan: the recognisers on the seeded corpus, and ``flask avg scan`` on every leg."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bench.scan_corpus import corpus, score
from example_app.models import SignUp, Team, db
from flask_avg.features.scan.detect import KINDS, find, mask
from flask_avg.features.scan.service import scan
from tests.support.factories import full_member

VALID_BSN = "111222333"
VALID_IBAN = "NL91ABNA0417164300"


def test_recognisers_on_the_seeded_corpus():
    labelled = corpus(3000)
    found = [set(find(text)) for text, _ in labelled]
    scores = score(found, [kinds for _, kinds in labelled], KINDS)
    assert scores == {kind: (1.0, 1.0) for kind in KINDS}


def test_checks_decide_not_the_shape():
    assert find(f"BSN {VALID_BSN}") == {"bsn": [VALID_BSN]}
    assert find("BSN 111222334") == {}  # fails the 11-proof
    assert find(VALID_IBAN) == {"iban": [VALID_IBAN]}
    assert find("NL91ABNA0417164301") == {}  # fails mod-97
    assert find("nl91 abna 0417 1643 00") == {"iban": ["nl91 abna 0417 1643 00"]}
    assert find("bel +44 20 7946 0958") == {"phone": ["+44 20 7946 0958"]}
    assert find("code 06-123") == {}
    assert find("Kerkweg 5a, 3511 LX Utrecht") == {"postcode": ["3511 LX"]}
    assert find("geboren 12-03-1985") == {"birth_date": ["12-03-1985"]}
    assert find("wedstrijd 12-03-1985") == {}
    assert find(b"\x00binary 111222333") == {}


def test_examples_are_masked():
    assert mask(VALID_BSN) == "1******33"
    assert "example" not in mask("jan@example.nl")


def _seed(app):
    one = full_member(1)
    one.member.city = f"Utrecht, BSN {VALID_BSN}"  # declared address: a mismatch
    one.member.medical_notes = f"Astma; BSN {VALID_BSN}"  # encrypted: listed, never read
    db.session.add(
        SignUp(
            member_id=one.member.id,
            signed_up_on=date(2020, 1, 1),
            kind="jeugd",
            remarks="bel 06-12345678",
        )
    )
    db.session.add(Team(name="Team van Jan, jan@example.nl"))  # teams.name is undeclared
    db.session.commit()


def test_scan_reports_declared_undeclared_and_mismatched(app):
    _seed(app)
    with db.engine.begin() as conn:  # a table no model knows about
        conn.execute(sa.text("CREATE TABLE scan_extra (id INTEGER PRIMARY KEY, note VARCHAR(200))"))
        conn.execute(sa.text(f"INSERT INTO scan_extra VALUES (1, 'IBAN {VALID_IBAN}')"))
    try:
        report = scan(app.extensions["avg"], batch_size=2)
        email = report.column("members", "email")
        assert email.declared == "contact" and email.counts == {"email": 1}
        assert not email.mismatched
        city = report.column("members", "city")
        assert city.counts == {"bsn": 1} and city.mismatched == ["bsn"]
        assert city.examples == {"bsn": ["1******33"]}
        notes = report.column("members", "medical_notes")
        assert notes.declared == "health" and notes.encrypted
        assert notes.values == 0 and notes.counts == {}
        assert [c.name for c in report.encrypted] == ["members.medical_notes"]
        team = report.column("teams", "name")
        assert team.declared is None and team.undeclared and team.counts == {"email": 1}
        extra = report.column("scan_extra", "note")
        assert extra.undeclared and extra.counts == {"iban": 1}
        assert report.column("signups", "remarks").mismatched == ["phone"]
        assert {c.name for c in report.undeclared} == {"teams.name", "scan_extra.note"}

        runner = app.test_cli_runner()
        result = runner.invoke(args=["avg", "scan", "--strict"])
        assert result.exit_code == 1, result.output
        assert "teams.name (UNDECLARED)" in result.output
        assert VALID_BSN not in result.output and "jan@example.nl" not in result.output
        assert "MISMATCH: bsn in a address column" in result.output
        assert "members.medical_notes (encrypted): not read" in result.output
        ok = runner.invoke(
            args=["avg", "scan", "--strict", "--ignore", "teams.name", "--ignore", "scan_extra"]
        )
        assert ok.exit_code == 0, ok.output

        strict = runner.invoke(args=["avg", "inventory", "--strict", "--scan"])
        assert strict.exit_code == 1
        assert "teams.name (UNDECLARED)" in strict.output
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE scan_extra"))


def test_sample_reads_only_the_first_rows(app):
    for n in range(1, 4):
        full_member(n)
    db.session.commit()
    report = scan(app.extensions["avg"], sample=2, tables=["members"])
    assert report.tables == 1
    assert report.column("members", "email").values == 2
