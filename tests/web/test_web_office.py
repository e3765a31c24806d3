"""Office actions and cards: each needs a reason, is audited, and reports done or kiosk offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kiosk.school.commands import finish
from kiosk.store.events import Kind
from kiosk.store.models import Card, Command, EarlyRelease, Event, Holding, Year5Approval
from kiosk.timeutil import utcnow

from .conftest import AMARA_CARD


def events(db, kind: str) -> list[Event]:
    with db.session() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def the_command(db) -> Command:
    with db.session() as session:
        return session.scalars(select(Command)).one()


def set_command(db, command_id: int, **fields) -> None:
    with db.session() as session:
        command = session.get(Command, command_id)
        for name, value in fields.items():
            setattr(command, name, value)
        session.commit()


# --- emergency unlock ---------------------------------------------------------------------


def test_unlock_refused_while_the_kiosk_is_offline(as_user, db, heartbeat):
    heartbeat(age_seconds=60)
    client = as_user("office")
    response = client.post("/office/unlock", data={"target": "all", "reason": "fire"},
                           follow_redirects=True)
    assert "kiosk offline" in response.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(Command)).all() == []


def test_unlock_needs_a_reason(as_user, db, heartbeat):
    heartbeat()
    response = as_user("office").post("/office/unlock", data={"target": "all", "reason": " "},
                                      follow_redirects=True)
    assert "needs a reason" in response.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(Command)).all() == []


def test_unlock_one_bay_then_done(as_user, db, heartbeat):
    heartbeat()
    client = as_user("office")
    response = client.post("/office/unlock", data={"target": "bay:locker-1:2",
                                                   "reason": "phone needed for medical"})
    command = the_command(db)
    assert (command.locker_id, command.bay, command.actor, command.reason) == (
        "locker-1", 2, "office", "phone needed for medical")
    assert response.headers["Location"] == f"/office?commands={command.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'data-command="{command.id}"' in page and "sent to the kiosk" in page
    status = client.get(f"/api/commands/{command.id}").get_json()
    assert (status["status"], status["finished"], status["display"]) == (
        "pending", False, "sent to the kiosk…")
    # The kiosk carries it out at 12:05:40 UTC on a summer day: 13:05:40 in London (BST).
    carried_out = datetime(2026, 7, 1, 12, 5, 40, tzinfo=UTC)
    with db.session() as session:
        finish(session.get(Command, command.id), "done", "Test locker: bay 2 unlocked for 10 s",
               carried_out)
        session.commit()
    status = client.get(f"/api/commands/{command.id}").get_json()
    assert status["finished"] and status["relocks_at"] == "13:05:50"
    assert status["display"] == (
        "done: Test locker: bay 2 unlocked for 10 s — relocks at 13:05:50")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "relocks at 13:05:50" in page  # also without the script


def test_relocks_at_counts_the_chosen_seconds_in_winter_time(as_user, db, heartbeat):
    heartbeat()
    client = as_user("office")
    client.post("/office/unlock", data={"target": "all", "reason": "drill", "seconds": "60"})
    command = the_command(db)
    with db.session() as session:  # GMT: school time is UTC
        finish(session.get(Command, command.id), "done", "every bay unlocked for 60 s",
               datetime(2026, 12, 1, 13, 4, 50, tzinfo=UTC))
        session.commit()
    assert client.get(f"/api/commands/{command.id}").get_json()["relocks_at"] == "13:05:50"
    with db.session() as session:  # a failed unlock never relocks: nothing opened
        finish(session.get(Command, command.id), "failed", "no such bay")
        session.commit()
    status = client.get(f"/api/commands/{command.id}").get_json()
    assert status["relocks_at"] is None and "relocks" not in status["display"]


def test_unlock_targets(as_user, db, heartbeat):
    heartbeat()
    client = as_user("admin")
    client.post("/office/unlock", data={"target": "locker:locker-1", "reason": "r"})
    assert (the_command(db).locker_id, the_command(db).bay) == ("locker-1", None)
    for bad in ("bay:locker-1:x", "cupboard", "locker:"):
        assert client.post("/office/unlock", data={"target": bad, "reason": "r"}
                           ).status_code == 400
    assert client.post("/office/unlock", data={"target": "locker:nope", "reason": "r"}
                       ).status_code == 400


def test_unlock_time_is_chosen_from_the_offered_ones(as_user, db, heartbeat):
    heartbeat()
    client = as_user("office")
    page = client.get("/office").get_data(as_text=True)
    assert '<option value="60">1 minute</option>' in page
    client.post("/office/unlock", data={"target": "all", "reason": "fire drill", "seconds": "60"})
    assert the_command(db).seconds == 60
    for forged in ("600", "9999", "0", "-5", "ten"):
        response = client.post("/office/unlock", data={"target": "all", "reason": "r",
                                                       "seconds": forged})
        assert response.status_code == 400, forged
    with db.session() as session:
        assert len(session.scalars(select(Command)).all()) == 1


def test_unlock_without_a_time_is_ten_seconds(as_user, db, heartbeat):
    heartbeat()
    as_user("office").post("/office/unlock", data={"target": "all", "reason": "fire drill"})
    assert the_command(db).seconds == 10


def test_a_command_nobody_claims_shows_kiosk_offline(as_user, db, heartbeat):
    heartbeat()
    client = as_user("office")
    client.post("/office/unlock", data={"target": "all", "reason": "drill"})
    command = the_command(db)
    set_command(db, command.id, created_at=utcnow() - timedelta(seconds=5))
    assert client.get(f"/api/commands/{command.id}").get_json()["display"] == "kiosk offline"
    set_command(db, command.id, status="expired")
    status = client.get(f"/api/commands/{command.id}").get_json()
    assert status["finished"] and status["display"].startswith("kiosk offline")
    assert client.get("/api/commands/9999").status_code == 404


# --- early collection and phones taken by the office ------------------------------------------


def test_early_release_is_recorded_for_today(as_user, db, ids):
    client = as_user("office")
    response = client.post("/office/release", data={"pupil_id": ids["amara"],
                                                    "reason": "dentist at 2"},
                           follow_redirects=True)
    assert "done: Amara Okafor may collect" in response.get_data(as_text=True)
    with db.session() as session:
        release = session.scalars(select(EarlyRelease)).one()
    assert (release.by, release.reason) == ("office", "dentist at 2")
    assert release.pupil_id == ids["amara"]
    (event,) = events(db, Kind.EARLY_RELEASE)
    assert (event.actor, event.reason) == ("office", "dentist at 2")
    response = client.post("/office/release", data={"pupil_id": ids["amara"], "reason": ""},
                           follow_redirects=True)
    assert "needs a reason" in response.get_data(as_text=True)


def test_handback_and_kept_in_office(as_user, db, ids):
    client = as_user("office")
    response = client.post("/office/handback", data={
        "pupil_id": ids["xss"], "kind": "kept_in_office", "reason": "confiscated", "back": "pupil"})
    assert response.headers["Location"] == f"/pupils/{ids['xss']}"
    with db.session() as session:
        assert session.get(Holding, ids["xss"]) is None
    (event,) = events(db, Kind.KEPT_IN_OFFICE)
    assert (event.actor, event.reason, event.pupil_id) == ("office", "confiscated", ids["xss"])
    again = client.post("/office/handback", data={
        "pupil_id": ids["xss"], "kind": "office_return", "reason": "mum"}, follow_redirects=True)
    assert "not recorded as in a locker" in again.get_data(as_text=True)
    assert client.post("/office/handback", data={"pupil_id": ids["xss"], "kind": "bin",
                                                 "reason": "x"}).status_code == 400


# --- cards ------------------------------------------------------------------------------------


def test_enrol_by_tapping(as_user, db, ids, heartbeat):
    heartbeat()
    client = as_user("office")
    response = client.post(f"/pupils/{ids['isla']}/enrol")
    command = the_command(db)
    assert (command.kind, command.pupil_id, command.actor) == ("enrol", ids["isla"], "office")
    assert response.headers["Location"] == f"/pupils/{ids['isla']}?command={command.id}#cards"
    set_command(db, command.id, status="running", result="waiting for a card")
    status = client.get(f"/api/commands/{command.id}").get_json()
    assert status["display"] == "waiting for a card: tap it on the reader now"
    set_command(db, command.id, status="done", result="card 04C0FFEE000001 assigned to Isla Murphy")
    page = client.get(f"/pupils/{ids['isla']}?command={command.id}").get_data(as_text=True)
    assert "done: card 04C0FFEE000001 assigned to Isla Murphy" in page


def test_enrol_reports_no_card_and_kiosk_offline(as_user, db, ids, heartbeat):
    heartbeat(age_seconds=60)
    client = as_user("office")
    response = client.post(f"/pupils/{ids['isla']}/enrol", follow_redirects=True)
    assert "kiosk offline" in response.get_data(as_text=True)
    heartbeat()
    client.post(f"/pupils/{ids['isla']}/enrol")
    command = the_command(db)
    set_command(db, command.id, status="failed", result="no card tapped")
    assert client.get(f"/api/commands/{command.id}").get_json()["display"] == (
        "failed: no card tapped")


def test_pick_an_unknown_card_then_revoke_it(as_user, db, ids):
    with db.session() as session:
        from kiosk.store.events import record_event

        record_event(session, Kind.REFUSED, card_uid="04DEAD00BEEF01", reason="unknown_card")
        session.commit()
    client = as_user("office")
    page = client.get(f"/pupils/{ids['isla']}").get_data(as_text=True)
    assert '<option value="04DEAD00BEEF01">' in page
    client.post(f"/pupils/{ids['isla']}/cards", data={"uid": "04DEAD00BEEF01"},
                follow_redirects=True)
    with db.session() as session:
        card = session.scalars(select(Card).where(Card.uid == "04DEAD00BEEF01")).one()
        assert card.active and card.pupil_id == ids["isla"]
    page = client.get(f"/pupils/{ids['amara']}").get_data(as_text=True)
    assert "04DEAD00BEEF01" not in page  # no longer offered as an unknown card
    # Revoking through another pupil's page is refused; through the owner's page it works.
    client.post(f"/pupils/{ids['amara']}/cards/revoke", data={"uid": "04DEAD00BEEF01"})
    with db.session() as session:
        assert session.scalars(select(Card).where(Card.uid == "04DEAD00BEEF01")).one().active
    client.post(f"/pupils/{ids['isla']}/cards/revoke", data={"uid": "04DEAD00BEEF01",
                                                            "reason": "lost on the bus"})
    with db.session() as session:
        card = session.scalars(select(Card).where(Card.uid == "04DEAD00BEEF01")).one()
        assert not card.active and card.revoked_at is not None
    revoked = [e for e in events(db, Kind.CARD_REVOKED) if e.card_uid == "04DEAD00BEEF01"]
    assert [(e.actor, e.reason) for e in revoked] == [("office", "lost on the bus")]
    page = client.get(f"/pupils/{ids['isla']}").get_data(as_text=True)
    assert "revoked" in page and "04DEAD00BEEF01" in page  # kept in the pupil's history


def test_assigning_someone_elses_card_is_refused(as_user, ids):
    response = as_user("office").post(f"/pupils/{ids['isla']}/cards", data={"uid": AMARA_CARD},
                                      follow_redirects=True)
    assert "already belongs to another pupil" in response.get_data(as_text=True)


def test_year5_approval_and_revoke(as_user, db, ids):
    client = as_user("office")
    client.post(f"/pupils/{ids['harry']}/approval", data={"by": "Mr Deputy", "until": "2099-07-20"})
    with db.session() as session:
        approval = session.scalars(select(Year5Approval).where(
            Year5Approval.pupil_id == ids["harry"])).one()
    assert (approval.approved_by, str(approval.until)) == ("Mr Deputy", "2099-07-20")
    page = client.get(f"/pupils/{ids['harry']}").get_data(as_text=True)
    assert "Mr Deputy" in page and "2099-07-20" in page
    response = client.post(f"/pupils/{ids['harry']}/approval/revoke", data={"reason": ""},
                           follow_redirects=True)
    assert "Say why" in response.get_data(as_text=True)
    client.post(f"/pupils/{ids['harry']}/approval/revoke", data={"reason": "parents asked"})
    (event,) = events(db, Kind.APPROVAL_REVOKED)
    assert (event.actor, event.reason) == ("office", "parents asked")
    response = client.post(f"/pupils/{ids['amara']}/approval", data={"by": "Mr Deputy"},
                           follow_redirects=True)
    assert "approvals are for Year 5" in response.get_data(as_text=True)
