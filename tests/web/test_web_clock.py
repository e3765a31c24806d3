"""The dashboard stamps what it does with its own clock (``CLOCK``), never the wall clock.

The app's clock here is three days before the seeded day, at 09:00 London, so
a stamp taken from the wall clock (or from ``PHONELOCKER_TEST_NOW``) could not
match it by chance.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kiosk.store.events import Kind, record_event
from kiosk.store.models import Card, Command, EarlyRelease, Event, Pupil, Year5Approval
from kiosk.timeutil import naive_utc

from .conftest import local_clock, login

CLOCK = local_clock(9, 0, days=-3)
AT = naive_utc(CLOCK())


def office(make_app):
    client = make_app(CLOCK=CLOCK).test_client()
    assert login(client, "office").status_code == 302
    return client


def stamps(db, kind: Kind, pupil_id: int | None = None) -> list:
    with db.session() as session:
        query = select(Event.at).where(Event.kind == kind.value)
        if pupil_id is not None:
            query = query.where(Event.pupil_id == pupil_id)
        return list(session.scalars(query))


def test_year5_approval_is_in_force_from_the_apps_clock(make_app, db, ids):
    client = office(make_app)
    client.post(f"/pupils/{ids['harry']}/approval", data={"by": "Mr Deputy"})
    with db.session() as session:
        approval = session.scalars(select(Year5Approval).where(
            Year5Approval.pupil_id == ids["harry"])).one()
        assert approval.approved_at == AT
    assert stamps(db, Kind.APPROVED, ids["harry"]) == [AT]
    allowed = [p["name"] for p in client.get("/api/today").get_json()["not_handed_in"]]
    assert "Harry Lee" in allowed  # approved "now" on the app's clock: in force at once
    client.post(f"/pupils/{ids['harry']}/approval/revoke", data={"reason": "parents asked"})
    with db.session() as session:
        assert session.get(Year5Approval, approval.id).revoked_at == AT
    assert stamps(db, Kind.APPROVAL_REVOKED, ids["harry"]) == [AT]


def test_an_end_date_is_judged_against_the_apps_day(make_app, db, ids):
    client = office(make_app)
    the_day = CLOCK().date()
    response = client.post(f"/pupils/{ids['harry']}/approval",
                           data={"by": "Mr Deputy", "until": str(the_day)}, follow_redirects=True)
    assert "Year 5 approval recorded for Harry Lee" in response.get_data(as_text=True)
    response = client.post(f"/pupils/{ids['isla']}/approval",
                           data={"by": "Mr Deputy", "until": str(the_day - timedelta(days=1))},
                           follow_redirects=True)
    assert "is in the past" in response.get_data(as_text=True)


def test_release_handback_and_cards_are_stamped_with_the_apps_clock(make_app, db, ids):
    client = office(make_app)
    client.post("/office/release", data={"pupil_id": ids["amara"], "reason": "dentist"})
    with db.session() as session:
        release = session.scalars(select(EarlyRelease)).one()
        assert (release.created_at, release.on_date) == (AT, CLOCK().date())
    assert stamps(db, Kind.EARLY_RELEASE) == [AT]
    client.post("/office/handback", data={"pupil_id": ids["xss"], "kind": "office_return",
                                          "reason": "parent came in"})
    assert stamps(db, Kind.OFFICE_RETURN) == [AT]
    client.post(f"/pupils/{ids['isla']}/cards", data={"uid": "04DEAD00BEEF01"})
    client.post(f"/pupils/{ids['isla']}/cards/revoke", data={"uid": "04DEAD00BEEF01",
                                                            "reason": "lost"})
    with db.session() as session:
        card = session.scalars(select(Card).where(Card.uid == "04DEAD00BEEF01")).one()
        assert (card.issued_at, card.revoked_at) == (AT, AT)
    assert stamps(db, Kind.ENROL, ids["isla"]) == [AT]
    assert stamps(db, Kind.CARD_REVOKED, ids["isla"]) == [AT]


def test_pupil_changes_are_stamped_with_the_apps_clock(make_app, db, ids):
    client = office(make_app)
    client.post("/pupils/new", data={"name": "Noor Ali", "year": "6", "class_name": "6K"})
    with db.session() as session:
        pupil = session.scalars(select(Pupil).where(Pupil.name == "Noor Ali")).one()
        assert pupil.created_at == AT
    client.post(f"/pupils/{pupil.id}/edit", data={"name": "Noor Ali", "year": "6",
                                                  "class_name": "6R"})
    client.post(f"/pupils/{pupil.id}/active", data={"active": "0"})
    with db.session() as session:
        assert session.get(Pupil, pupil.id).left_at == AT
    assert stamps(db, Kind.PUPIL_ADDED, pupil.id) == [AT]
    assert stamps(db, Kind.PUPIL_UPDATED, pupil.id) == [AT, AT]


def test_unknown_cards_are_recent_on_the_apps_clock(make_app, db, ids):
    with db.session() as session:
        record_event(session, Kind.REFUSED, at=AT - timedelta(hours=1), card_uid="04DEAD00BEEF01",
                     reason="unknown_card")
        record_event(session, Kind.REFUSED, at=AT - timedelta(hours=25),
                     card_uid="04DEAD00BEEF02", reason="unknown_card")
        session.commit()
    page = office(make_app).get(f"/pupils/{ids['isla']}").get_data(as_text=True)
    assert '<option value="04DEAD00BEEF01">' in page
    assert "04DEAD00BEEF02" not in page  # a day and more before the app's now


def test_unlock_is_queued_at_the_apps_clock_and_not_called_stale(make_app, db, heartbeat):
    heartbeat()
    client = office(make_app)
    client.post("/office/unlock", data={"target": "all", "reason": "drill"})
    with db.session() as session:
        command = session.scalars(select(Command)).one()
        assert command.created_at == AT
    status = client.get(f"/api/commands/{command.id}").get_json()
    assert status["display"] == "sent to the kiosk…"  # age 0 on the app's clock
