"""Safer office forms (issue 11 §5): the pupil picker, early release without a phone in the
locker, "handed back by the office", the card-revoke reason, "End approval", the emulator's
virtual-card line. Through the Flask test client on a real SQLite file."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from sqlalchemy import select

from kiosk.school.pupils import add_pupil
from kiosk.school.queries import pupil_states
from kiosk.store.events import Kind
from kiosk.store.models import Card, EarlyRelease, Event, Holding, KioskStatus
from kiosk.timeutil import naive_utc, utcnow

from .conftest import AMARA_CARD, SEED_TIME, XSS_CARD, local_clock, login


def client_as(make_app, username: str, **settings):
    client = make_app(**settings).test_client()
    assert login(client, username).status_code == 302
    return client


def add_pupils(db, *rows: tuple[str, int, str]) -> dict[str, int]:
    with db.session() as session:
        ids = {name: add_pupil(session, name=name, year=year, class_name=class_name,
                               actor="seed", now=SEED_TIME).id
               for name, year, class_name in rows}
        session.commit()
    return ids


def releases(db) -> list[EarlyRelease]:
    with db.session() as session:
        return list(session.scalars(select(EarlyRelease)))


def events(db, kind: str) -> list[Event]:
    with db.session() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


# --- the picker's search ------------------------------------------------------------------------


def test_search_matches_any_part_of_a_name_sorted_by_surname(make_app, db):
    add_pupils(db, ("Sam Zephyr", 6, "6K"), ("Samira Able", 5, "5R"), ("Tom Sampson", 6, "6K"))
    client = client_as(make_app, "office")
    found = client.get("/pupils/search?q=SAM").get_json()
    assert [p["name"] for p in found] == ["Samira Able", "Tom Sampson", "Sam Zephyr"]
    assert found[0] == {"id": found[0]["id"], "name": "Samira Able", "class": "5R", "year": 5,
                        "label": "Samira Able (5R)"}
    assert [p["name"] for p in client.get("/pupils/search?q=kafo").get_json()] == [
        "Amara Okafor"]  # part of a surname
    assert client.get("/pupils/search?q=Amara Okafor (6K)").get_json()[0]["class"] == "6K"
    assert client.get("/pupils/search?q=nobody").get_json() == []
    assert client.get("/pupils/search?q=").get_json() == []


def test_search_sends_at_most_twenty_and_only_active_pupils(make_app, db):
    add_pupils(db, *((f"Pupil{n:02d} Many", 6, "6K") for n in range(25)))
    client = client_as(make_app, "office")
    assert len(client.get("/pupils/search?q=many").get_json()) == 20
    assert client.get("/pupils/search?q=Pupil24").get_json()[0]["name"] == "Pupil24 Many"


def test_search_of_held_phones_lists_only_pupils_with_a_phone_in_a_locker(make_app):
    client = client_as(make_app, "office")
    held = client.get("/pupils/search?q=a&held=1").get_json()
    assert [p["name"] for p in held] == ["<script>alert(1)</script>"]
    assert client.get("/pupils/search?q=amara&held=1").get_json() == []


def test_the_office_page_preselects_no_pupil_and_ships_no_roll(make_app):
    page = client_as(make_app, "office").get("/office").get_data(as_text=True)
    assert "<select name=\"pupil_id\"" not in page
    assert page.count('<input type="hidden" name="pupil_id" value=""') == 2
    assert re.search(r'<input name="pupil" id="release-pupil" required[^>]* value=""', page)
    assert 'data-pupil-search="/pupils/search"' in page
    assert 'data-pupil-search="/pupils/search?held=1"' in page
    for name in ("Amara Okafor", "Grace Mensah", "Harry Lee", "Isla Murphy"):
        assert name not in page


# --- the server resolves what was typed -----------------------------------------------------------


def test_a_typed_name_that_matches_one_pupil_is_that_pupil(make_app, db, ids):
    client = client_as(make_app, "office")
    response = client.post("/office/release", data={"pupil": "okaf", "reason": "dentist"},
                           follow_redirects=True)
    assert "done: Amara Okafor may collect" in response.get_data(as_text=True)
    assert [r.pupil_id for r in releases(db)] == [ids["amara"]]


def test_several_matches_ask_which_one_and_keep_the_reason(make_app, db):
    sams = add_pupils(db, ("Sam Carter", 6, "6K"), ("Sam Patel", 5, "5R"))
    client = client_as(make_app, "office")
    response = client.post("/office/release", data={"pupil": "sam", "reason": "orthodontist"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Which pupil?" in page
    assert "Several pupils match “sam”: which one?" in page
    assert f'value="{sams["Sam Carter"]}"' in page and f'value="{sams["Sam Patel"]}"' in page
    assert '<input type="hidden" name="reason" value="orthodontist">' in page
    assert 'action="/office/release"' in page and "checked" not in page
    assert releases(db) == []  # nothing recorded until one is picked
    response = client.post("/office/release", data={"pupil_id": sams["Sam Patel"],
                                                    "reason": "orthodontist"},
                           follow_redirects=True)
    assert "done: Sam Patel may collect" in response.get_data(as_text=True)
    assert [(r.pupil_id, r.reason) for r in releases(db)] == [(sams["Sam Patel"], "orthodontist")]


def test_no_choice_says_choose_a_pupil_and_no_match_says_so(make_app, db):
    client = client_as(make_app, "office")
    empty = client.post("/office/release", data={"pupil": " ", "reason": "dentist"})
    assert empty.status_code == 400
    assert "choose a pupil" in empty.get_data(as_text=True)
    unknown = client.post("/office/release", data={"pupil": "zebedee", "reason": "dentist"})
    text = unknown.get_data(as_text=True)
    assert unknown.status_code == 400 and "no pupil matches “zebedee”" in text
    assert 'value="zebedee"' in text  # typed again from where it was
    assert releases(db) == []


def test_a_hand_back_finds_only_phones_in_a_locker(make_app, db, ids):
    client = client_as(make_app, "office")
    missing = client.post("/office/handback", data={"pupil": "amara", "kind": "office_return",
                                                    "reason": "mum"})
    assert missing.status_code == 400
    assert "no phone in a locker belongs to a pupil matches “amara”" in missing.get_data(
        as_text=True)
    done = client.post("/office/handback", data={"pupil": "script", "kind": "office_return",
                                                 "reason": "mum"})
    assert done.status_code == 302
    (event,) = events(db, Kind.OFFICE_RETURN)
    assert (event.pupil_id, event.reason) == (ids["xss"], "mum")


# --- early release without a phone in the locker --------------------------------------------------


def test_an_early_release_without_a_phone_in_the_locker_warns(make_app, db, ids):
    client = client_as(make_app, "office")
    page = client.post("/office/release", data={"pupil_id": ids["amara"], "reason": "dentist"},
                       follow_redirects=True).get_data(as_text=True)
    assert "done: Amara Okafor may collect" in page
    assert ("Amara Okafor&#39;s phone is not in a locker today — the release is recorded, "
            "but there is nothing to collect.") in page
    assert len(releases(db)) == 1
    held = client.post("/office/release", data={"pupil_id": ids["xss"], "reason": "dentist"},
                       follow_redirects=True).get_data(as_text=True)
    assert "may collect their phone early today" in held
    assert "nothing to collect" not in held


# --- handed back by the office --------------------------------------------------------------------


def test_a_phone_handed_back_by_the_office_says_so_with_the_time(make_app, db, ids, config):
    client = client_as(make_app, "office", CLOCK=local_clock(13, 7))
    client.post("/office/handback", data={"pupil_id": ids["xss"], "kind": "office_return",
                                          "reason": "mum collecting"})
    today = client.get("/").get_data(as_text=True)
    assert "handed back by the office at 13:07" in today
    pupil = client.get(f"/pupils/{ids['xss']}").get_data(as_text=True)
    assert "handed back by the office at 13:07" in pupil and "collected at" not in pupil
    with db.session() as session:  # the status --json document says how it came out
        rows = pupil_states(session, config, now=local_clock(13, 8)())["pupils"]
    row = next(p for p in rows if p["id"] == ids["xss"])
    assert (row["state"], row["collected_kind"]) == ("collected", "office_return")
    assert row["collected_at"][11:16] == "13:07"


def test_a_phone_kept_in_the_office_is_not_collected(make_app, db, ids):
    client = client_as(make_app, "office", CLOCK=local_clock(13, 7))
    client.post("/office/handback", data={"pupil_id": ids["xss"], "kind": "kept_in_office",
                                          "reason": "confiscated"})
    pupil = client.get(f"/pupils/{ids['xss']}").get_data(as_text=True)
    assert "kept in the office since 13:07" in pupil and "collected at" not in pupil


# --- card revoke reason and "End approval" --------------------------------------------------------


def test_the_revoke_reason_must_be_typed(make_app, db, ids):
    client = client_as(make_app, "office")
    page = client.get(f"/pupils/{ids['amara']}").get_data(as_text=True)
    field = re.search(r'<input id="revoke-reason-\d+"[^>]*>', page).group()
    assert 'placeholder="why, e.g. lost"' in field and "required" in field
    assert "value=" not in field
    refused = client.post(f"/pupils/{ids['amara']}/cards/revoke",
                          data={"uid": AMARA_CARD, "reason": ""}, follow_redirects=True)
    assert "Not revoked: say why the card is revoked" in refused.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(Card).where(Card.uid == AMARA_CARD)).one().active
    client.post(f"/pupils/{ids['amara']}/cards/revoke", data={"uid": AMARA_CARD,
                                                            "reason": "left on the bus"})
    (event,) = events(db, Kind.CARD_REVOKED)
    assert event.reason == "left on the bus"


def test_end_approval_is_offered_only_while_one_is_in_force(make_app, ids):
    client = client_as(make_app, "office", CLOCK=local_clock(10, 0))  # the seeded day
    assert "End approval" in client.get(f"/pupils/{ids['grace']}").get_data(as_text=True)
    harry = client.get(f"/pupils/{ids['harry']}").get_data(as_text=True)
    assert "Record approval" in harry and "End approval" not in harry
    client.post(f"/pupils/{ids['grace']}/approval/revoke", data={"reason": "reviewed"})
    grace = client.get(f"/pupils/{ids['grace']}").get_data(as_text=True)
    assert "End approval" not in grace and "Record approval" in grace


def test_an_approval_past_its_last_day_is_not_in_force(make_app, db, ids):
    client = client_as(make_app, "office", CLOCK=local_clock(9, 0))
    client.post(f"/pupils/{ids['harry']}/approval",
                data={"by": "Mrs Head", "until": (SEED_TIME.date()).isoformat()})
    assert "End approval" in client.get(f"/pupils/{ids['harry']}").get_data(as_text=True)
    later = client_as(make_app, "office", CLOCK=local_clock(9, 0, days=1))
    page = later.get(f"/pupils/{ids['harry']}").get_data(as_text=True)
    assert "End approval" not in page and "past its last day" in page


# --- the emulator's virtual-card line -------------------------------------------------------------


def kiosk_reports_tap(db, uid: str, result: str, seconds_ago: float = 0) -> None:
    """The kiosk's heartbeat after it decided a tap (what the daemon writes)."""
    with db.session() as session:
        status = session.get(KioskStatus, "locker-1")
        status.last_tap_at = naive_utc(utcnow() - timedelta(seconds=seconds_ago))
        status.last_tap_uid = uid
        status.last_tap_result = result
        session.commit()


def virtual_card_line(client) -> str:
    html = client.get("/api/emulator").get_json()["html"]["locker"]
    match = re.search(r"Virtual card: ([^<]*)</p>", html)
    return match.group(1) if match else ""


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_virtual_card_line_follows_the_latest_tap(make_app, db, ids, heartbeat, presented):
    heartbeat()
    kiosk_reports_tap(db, AMARA_CARD, "deposit", seconds_ago=60)  # a tap from before
    client = client_as(make_app, "office")
    client.post("/emulator/tap", data={"pupil_id": ids["amara"]})
    wait_for(lambda: presented == [AMARA_CARD])
    wait_for(lambda: "waiting for the kiosk" in virtual_card_line(client))
    kiosk_reports_tap(db, AMARA_CARD, "deposit")
    assert virtual_card_line(client) == f"card {AMARA_CARD}: handed in"

    client.post("/emulator/tap", data={"pupil_id": ids["xss"]})
    assert AMARA_CARD not in virtual_card_line(client)  # the old result is gone at once
    wait_for(lambda: len(presented) == 2)
    wait_for(lambda: "waiting for the kiosk" in virtual_card_line(client))
    assert XSS_CARD in virtual_card_line(client)
    kiosk_reports_tap(db, XSS_CARD, "collect")
    assert virtual_card_line(client) == f"card {XSS_CARD}: collected"


def test_a_hand_back_removes_the_holding(make_app, db, ids):
    client = client_as(make_app, "office")
    client.post("/office/handback", data={"pupil": "<script>alert(1)</script> (6K)",
                                          "kind": "kept_in_office", "reason": "confiscated"})
    with db.session() as session:
        assert session.get(Holding, ids["xss"]) is None
