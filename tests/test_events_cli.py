"""``phonelocker events``: the log in staff words, and ``--names`` (the real console script)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from kiosk.school.pupils import add_pupil
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Bay, Locker

from .conftest import real_now, run_cli

#: 10:00 UTC on a Tuesday in winter: 10:00 in London, before collection time
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def seed(db) -> int:
    with db.session() as session:
        session.add(Locker(id="demo-6k", name="Class 6K locker", bays=[Bay(number=1)]))
        pupil = add_pupil(session, name="Amara Okafor", year=6, class_name="6K",
                          card_uid="04A1B2C3D4E5F6", actor="office", now=AT)
        common = {"at": AT.replace(tzinfo=None), "pupil_id": pupil.id,
                  "card_uid": "04A1B2C3D4E5F6", "locker_id": "demo-6k"}
        record_event(session, Kind.DEPOSIT, bay=1, **common)
        record_event(session, Kind.REFUSED, reason="too_early", **common)
        record_event(session, Kind.REFUSED, at=AT.replace(tzinfo=None), card_uid="04FFFF00000001",
                     locker_id="demo-6k", reason="unknown_card")
        session.commit()
        return pupil.id


def test_events_are_printed_in_words(config_file, config, db):
    pupil_id = seed(db)
    opens = config.policy.collection_time(AT.weekday()).strftime("%H:%M")
    lines = run_cli(config_file, "events").stdout.splitlines()
    deposit = next(line for line in lines if "handed in" in line)
    assert f"handed in  pupil {pupil_id}  Class 6K locker, bay 1" in deposit
    assert "Amara Okafor" not in deposit  # names only with --names
    assert any(f"refused — collection opens {opens}" in line for line in lines)
    assert any("refused — card not recognised  Class 6K locker  card 04FFFF00000001" in line
               for line in lines)
    text = "\n".join(lines)
    for code in ("deposit", "too_early", "unknown_card", "demo-6k/", "None", "pupil_added"):
        assert code not in text, code


def test_events_names_in_text_and_json(config_file, db):
    pupil_id = seed(db)
    lines = run_cli(config_file, "events", "--names").stdout.splitlines()
    deposit = next(line for line in lines if "handed in" in line)
    assert "handed in  Amara Okafor (6K)  Class 6K locker, bay 1" in deposit
    assert f"pupil {pupil_id}" not in deposit
    plain = json.loads(run_cli(config_file, "events", "--json").stdout)
    named = json.loads(run_cli(config_file, "events", "--json", "--names").stdout)
    assert "pupil_name" not in plain[0]  # without --names the document is as it was
    assert len(plain) == len(named)
    for before, after in zip(plain, named, strict=True):
        assert {k: after[k] for k in before} == before  # every field kept exactly
        assert list(after)[:len(before)] == list(before)
        if before["pupil_id"] == pupil_id:
            assert (after["pupil_name"], after["class_name"]) == ("Amara Okafor", "6K")
        else:
            assert after["pupil_name"] is None and after["class_name"] is None


def test_status_heading_is_a_school_date(config_file, db):
    zone = ZoneInfo("Europe/London")
    before = real_now(zone).date()  # the subprocess's clock decides "today"
    first = run_cli(config_file, "status").stdout.splitlines()[0]
    after = real_now(zone).date()
    assert first in {f"Phones on {day:%A} {day.day} {day:%B}" for day in (before, after)}


def test_status_says_a_phone_was_handed_back_by_the_office_not_collected(config_file, db):
    from kiosk.school.pupils import get_pupil, office_takes_phone
    from kiosk.store.models import Holding

    now = real_now().replace(tzinfo=None)  # the subprocess decides "today" by its clock
    with db.session() as session:
        session.add(Locker(id="demo-6k", name="Class 6K locker", bays=[Bay(number=1)]))
        pupil = add_pupil(session, name="Amara Okafor", year=6, class_name="6K",
                          card_uid="04A1B2C3D4E5F6", actor="office", now=now)
        event = record_event(session, Kind.DEPOSIT, at=now, pupil_id=pupil.id, bay=1,
                             card_uid="04A1B2C3D4E5F6", locker_id="demo-6k")
        session.add(Holding(pupil_id=pupil.id, locker_id="demo-6k", bay=1, since=now,
                            event_id=event.id))
        session.commit()
        office_takes_phone(session, get_pupil(session, pupil.id), actor="office",
                           reason="dentist", now=now)
        session.commit()
    [line] = [line for line in run_cli(config_file, "status").stdout.splitlines()
              if "Amara" in line]
    assert "handed back by the office" in line and "collected" not in line
