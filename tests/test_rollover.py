"""The school-year rollover.

Real SQLite files in tmp_path; the commands are run through click's CliRunner
with ``--config`` pointing at a TOML file, as an administrator would run them.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from kiosk.school.pupils import approve_year5
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Card, Event, Holding, Pupil, Year5Approval
from kiosk.timeutil import utcnow

from .maintenance_helpers import UIDS, db_path, dump, invoke, make_pupil


def _school(db: Database) -> dict[str, int]:
    with db.session() as session:
        reception = make_pupil(session, "Rory Reception", 0, "RB")
        year4 = make_pupil(session, "Fatima Four", 4, "4R")
        approved = make_pupil(session, "Ada Approved", 5, "5J", UIDS[0])
        approve_year5(session, approved, by="Mrs Head")
        expired = make_pupil(session, "Eli Expired", 5, "5J", UIDS[1])
        session.add(Year5Approval(pupil_id=expired.id, approved_by="Mrs Head",
                                  approved_at=utcnow() - timedelta(days=90),
                                  until=date.today() - timedelta(days=30)))
        leaver = make_pupil(session, "Sam Six", 6, "6K", UIDS[2])
        leaver.cards[0].issued_at = utcnow() - timedelta(days=400)
        session.add(Card(uid=UIDS[3], pupil_id=leaver.id, active=False,
                         revoked_at=utcnow() - timedelta(days=100)))
        gone = make_pupil(session, "Olu Old", 6, "6K", active=False,
                          left_at=utcnow() - timedelta(days=300))
        session.commit()
        return {p.name: p.id for p in (reception, year4, approved, expired, leaver, gone)}


def test_rollover_dry_run_shows_everything_and_writes_nothing(config_file, config, db):
    ids = _school(db)
    before = dump(db_path(config))

    result = invoke(config_file, "rollover", "--dry-run", "--by", "Mrs Head")

    assert result.exit_code == 0, result.output
    assert dump(db_path(config)) == before
    out = result.output
    assert "would move up one year: 4 pupil(s)" in out
    assert "Year 0 -> 1: 1" in out and "Year 4 -> 5: 1" in out and "Year 5 -> 6: 2" in out
    for name, years in (("Rory Reception", "0 -> 1"), ("Fatima Four", "4 -> 5"),
                        ("Ada Approved", "5 -> 6"), ("Eli Expired", "5 -> 6")):
        assert f"{ids[name]:>5}  {name}" in out and f"Year {years}" in out
    assert "would leave (Year 6, archived; 1 card(s) revoked): 1 pupil(s)" in out
    assert f"{ids['Sam Six']:>5}  Sam Six  (6K) Year 6" in out
    assert "Olu Old" not in out
    assert "would end Year 5 approvals: 1" in out and "Ada Approved" in out.split(
        "would end Year 5 approvals")[1]
    assert "re-import them from the MIS" in out
    assert "dry run: nothing was changed" in out


def test_rollover_moves_years_archives_leavers_and_ends_approvals(config_file, config, db):
    ids = _school(db)
    with db.session() as session:
        classes = {p.id: p.class_name for p in session.scalars(select(Pupil))}
        gone_before = session.get(Pupil, ids["Olu Old"]).left_at
        expired_approval = session.scalars(
            select(Year5Approval).where(Year5Approval.pupil_id == ids["Eli Expired"])
        ).one()
        started = utcnow()

    result = invoke(config_file, "rollover", "--by", "Mrs Head")

    assert result.exit_code == 0, result.output
    assert "rollover done: 4 moved up, 1 left, 1 card(s) revoked, 1 approval(s) ended" in (
        result.output
    )
    assert "re-import them from the MIS" in result.output
    with db.session() as session:
        pupils = {p.id: p for p in session.scalars(select(Pupil))}
        assert {name: pupils[i].year for name, i in ids.items()} == {
            "Rory Reception": 1, "Fatima Four": 5, "Ada Approved": 6, "Eli Expired": 6,
            "Sam Six": 6, "Olu Old": 6,
        }
        assert {i: p.class_name for i, p in pupils.items()} == classes  # classes untouched
        sam = pupils[ids["Sam Six"]]
        assert sam.active is False and sam.left_at is not None and sam.left_at >= started
        assert all(not c.active and c.revoked_at is not None for c in sam.cards)
        new_card = next(c for c in sam.cards if c.uid == UIDS[2])
        assert new_card.revoked_at >= started
        assert all(p.active for i, p in pupils.items() if i not in (ids["Sam Six"],
                                                                     ids["Olu Old"]))
        assert pupils[ids["Olu Old"]].left_at == gone_before
        ada = session.scalars(
            select(Year5Approval).where(Year5Approval.pupil_id == ids["Ada Approved"])).one()
        assert ada.revoked_at >= started and ada.revoked_by == "Mrs Head"
        eli = session.get(Year5Approval, expired_approval.id)
        assert eli.revoked_at is None  # already expired: left as it was
        [event] = session.scalars(select(Event).where(Event.kind == Kind.ROLLOVER.value)).all()
        assert event.actor == "Mrs Head"
        assert "moved=4" in event.reason and "left=1" in event.reason
        assert "cards_revoked=1 approvals_ended=1" in event.reason
        revoked = session.scalars(select(Event).where(
            Event.kind == Kind.CARD_REVOKED.value, Event.pupil_id == ids["Sam Six"])).all()
        assert [e.card_uid for e in revoked] == [UIDS[2]]

    after = dump(db_path(config))
    again = invoke(config_file, "rollover", "--by", "Mrs Head")
    assert again.exit_code == 1
    assert "a rollover was already done on" in again.output
    assert dump(db_path(config)) == after  # nobody moved up a second year


def test_rollover_refuses_while_phones_are_in_the_locker(config_file, config, db):
    ids = _school(db)
    with db.session() as session:
        session.add(Holding(pupil_id=ids["Sam Six"], locker_id="locker-1", bay=1,
                            since=utcnow()))
        session.commit()
    before = dump(db_path(config))

    dry = invoke(config_file, "rollover", "--dry-run")
    assert dry.exit_code == 1
    assert f"{ids['Sam Six']} Sam Six (Year 6, locker-1 bay 1, leaving)" in dry.output
    refused = invoke(config_file, "rollover", "--by", "Mrs Head")
    assert refused.exit_code == 1
    assert "1 phone(s) still in a locker" in refused.output and "Sam Six" in refused.output
    assert dump(db_path(config)) == before

    forced = invoke(config_file, "rollover", "--by", "Mrs Head", "--force")
    assert forced.exit_code == 0, forced.output
    with db.session() as session:
        sam = session.get(Pupil, ids["Sam Six"])
        assert sam.active is False
        assert session.get(Holding, sam.id) is not None  # the office still sees the phone
        [event] = session.scalars(select(Event).where(Event.kind == Kind.ROLLOVER.value)).all()
        assert "forced past: 1 phone(s) in a locker" in event.reason
