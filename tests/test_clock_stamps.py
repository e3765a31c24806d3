"""Domain actions stamp the ``now`` their caller passes, not the wall clock.

``THEN`` is far from any wall clock (and from any ``PHONELOCKER_TEST_NOW``),
so a stamp read from the wall clock could not match it by chance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kiosk.care.export import export_pupil
from kiosk.school import staff
from kiosk.school.commands import claim, finish, forget_locker, queue_enrol, queue_unlock
from kiosk.school.pupils import add_pupil, office_takes_phone, release_early
from kiosk.school.queries import recent_unknown_cards
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Event, Locker
from kiosk.timeutil import naive_utc

THEN = datetime(2031, 6, 2, 8, 30, tzinfo=UTC)
AT = naive_utc(THEN)


def kinds_at(session) -> dict[str, set]:
    stamps: dict[str, set] = {}
    for kind, at in session.execute(select(Event.kind, Event.at)):
        stamps.setdefault(kind, set()).add(at)
    return stamps


def test_commands_are_queued_claimed_and_finished_on_the_callers_clock(db):
    with db.session() as session:
        session.add(Locker(id="l1", name="L1"))
        pupil = add_pupil(session, name="A", year=6, class_name="6K", actor="t", now=THEN)
        (unlock,) = queue_unlock(session, actor="office", reason="drill", now=THEN)
        enrol = queue_enrol(session, pupil_id=pupil.id, actor="office", locker_id="l1", now=THEN)
        assert unlock.created_at == enrol.created_at == AT
        # 14 s later on the same clock: live, whatever the wall clock says.
        assert {c.id for c in claim(session, "l1", THEN + timedelta(seconds=14))} == {
            unlock.id, enrol.id}
        finish(unlock, "done", "ok", THEN + timedelta(seconds=15))
        assert unlock.finished_at == AT + timedelta(seconds=15)
        (late,) = queue_unlock(session, actor="office", reason="late", now=THEN)
        assert claim(session, "l1", THEN + timedelta(seconds=16)) == []  # stale on that clock
        assert late.status == "expired" and late.finished_at == AT + timedelta(seconds=16)
        expired = session.scalars(select(Event).where(Event.kind == "command_expired")).one()
        assert expired.at == AT + timedelta(seconds=16)
        forget_locker(session, "l1", actor="office", now=THEN)
        assert kinds_at(session)["locker_forgotten"] == {AT}


def test_staff_accounts_are_stamped_on_the_callers_clock(db):
    with db.session() as session:
        # a teacher's classes must be classes the school has
        add_pupil(session, name="Ada Lovelace", year=6, class_name="6K", actor="office", now=THEN)
        user = staff.create_user(session, "mrsk", "a long enough passphrase 42", role="teacher",
                                 classes=["6K"], actor="admin", now=THEN)
        staff.update_user(session, user, actor="admin", role="office", now=THEN)
        staff.set_password(session, user, "another long passphrase 43", actor="admin", now=THEN)
        assert user.created_at == AT
        assert kinds_at(session)["user_created"] == {AT}
        assert kinds_at(session)["user_updated"] == {AT}


def test_office_actions_and_the_export_are_stamped_on_the_callers_clock(db, config):
    with db.session() as session:
        pupil = add_pupil(session, name="A", year=6, class_name="6K", card_uid="04A1B2C3D4E5F6",
                          actor="t", now=THEN)
        record_event(session, Kind.DEPOSIT, at=AT, pupil_id=pupil.id, locker_id="l1", bay=1)
        from kiosk.store.models import Holding

        session.add(Holding(pupil_id=pupil.id, locker_id="l1", bay=1, since=AT))
        release = release_early(session, pupil, by="office", reason="dentist",
                                on_date=THEN.date(), now=THEN)
        office_takes_phone(session, pupil, actor="office", reason="parent", now=THEN)
        session.flush()
        assert release.created_at == AT
        assert set(kinds_at(session)) == {
            "pupil_added", "enrol", "deposit", "early_release", "office_return"}
        assert set().union(*kinds_at(session).values()) == {AT}
        document = export_pupil(session, pupil.id, config, now=THEN)
    assert document["exported_at"].startswith("2031-06-02T09:30")  # BST


def test_recent_unknown_cards_are_recent_on_the_callers_clock(db):
    with db.session() as session:
        record_event(session, Kind.REFUSED, at=AT - timedelta(hours=2), card_uid="04DEAD00BEEF01",
                     reason="unknown_card")
        record_event(session, Kind.REFUSED, at=AT - timedelta(hours=30),
                     card_uid="04DEAD00BEEF02", reason="unknown_card")
        uids = [uid for uid, _ in recent_unknown_cards(session, now=THEN)]
    assert uids == ["04DEAD00BEEF01"]
