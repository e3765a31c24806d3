"""The subject access export.

Real SQLite files in tmp_path; the commands are run through click's CliRunner
with ``--config`` pointing at a TOML file, as an administrator would run them.
"""

from __future__ import annotations

import json
import stat
from datetime import date, datetime, timedelta

from sqlalchemy import select

from kiosk.school.pupils import approve_year5, release_early
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Command, Event, Holding
from kiosk.timeutil import utcnow

from .maintenance_helpers import UIDS, invoke, make_pupil


def test_export_pupil_has_everything_about_them_and_nothing_else(config_file, config, db,
                                                                 tmp_path):
    with db.session() as session:
        amara = make_pupil(session, "Amara Okafor", 5, "5J", UIDS[0], external_id="A100")
        bilal = make_pupil(session, "Bilal Hussain", 5, "5J", UIDS[1], external_id="B200")
        record_event(session, Kind.REFUSED, card_uid=UIDS[0], reason="unknown_card",
                     at=utcnow() - timedelta(days=5))
        for pupil in (amara, bilal):
            approve_year5(session, pupil, by="Mrs Head")
            release_early(session, pupil, by="Office", reason=f"dentist {pupil.name}",
                          on_date=date(2026, 6, 1))
            deposit = record_event(session, Kind.DEPOSIT, pupil_id=pupil.id,
                                   card_uid=pupil.cards[0].uid, locker_id="locker-1", bay=1)
            session.add(Holding(pupil_id=pupil.id, locker_id="locker-1", bay=1,
                                since=deposit.at, event_id=deposit.id))
            session.add(Command(kind="enrol", pupil_id=pupil.id, actor="office",
                                status="done", card_uid=pupil.cards[0].uid))
        session.commit()
        amara_id, bilal_id = amara.id, bilal.id
        amara_events = set(session.scalars(
            select(Event.id).where(
                (Event.pupil_id == amara_id) | (Event.card_uid == UIDS[0]))))
        bilal_events = set(session.scalars(select(Event.id).where(Event.pupil_id == bilal_id)))

    result = invoke(config_file, "export-pupil", str(amara_id))
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)

    assert document["pupil"]["id"] == amara_id
    assert document["pupil"]["name"] == "Amara Okafor"
    assert document["pupil"]["external_id"] == "A100"
    assert [c["uid"] for c in document["cards"]] == [UIDS[0]]
    assert [a["approved_by"] for a in document["year5_approvals"]] == ["Mrs Head"]
    assert [r["reason"] for r in document["early_releases"]] == ["dentist Amara Okafor"]
    assert [h["bay"] for h in document["holdings"]] == [1]
    assert {e["id"] for e in document["events"]} == amara_events
    assert {"pupil_added", "enrol", "approved", "early_release", "deposit", "refused"} <= {
        e["kind"] for e in document["events"]
    }
    assert len(document["commands"]) == 1
    # Times are ISO 8601 with an offset.
    for moment in (document["pupil"]["created_at"], document["cards"][0]["issued_at"],
                   document["events"][0]["at"], document["holdings"][0]["since"]):
        assert datetime.fromisoformat(moment).tzinfo is not None
    assert document["early_releases"][0]["on_date"] == "2026-06-01"
    # Nothing of the other pupil.
    text = result.output
    for secret in ("Bilal", "B200", UIDS[1]):
        assert secret not in text
    assert not bilal_events & {e["id"] for e in document["events"]}
    assert all(e["pupil_id"] in (amara_id, None) for e in document["events"])

    out = tmp_path / "sar.json"
    written = invoke(config_file, "export-pupil", str(amara_id), "--output", str(out))
    assert written.exit_code == 0
    assert json.loads(out.read_text())["events"] == document["events"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    refused = invoke(config_file, "export-pupil", str(amara_id), "--output", str(out))
    assert refused.exit_code == 1 and "already exists" in refused.output
    missing = invoke(config_file, "export-pupil", "999")
    assert missing.exit_code == 1 and "no pupil with id 999" in missing.output
