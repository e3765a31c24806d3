"""The locker screen (/screen): what a pupil reads at the locker, and who may open it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from kiosk.store.models import KioskStatus
from kiosk.store.runtime_status import DISK_FULL, status_path, write_status
from web.screen import HOLD_SECONDS

from .conftest import AMARA_CARD, LOCKER, login

# A Friday, 14:00 in London (GMT): before a Friday collection time of 14:30.
FRIDAY_2PM = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
ELSEWHERE = {"REMOTE_ADDR": "10.20.30.40"}


@pytest.fixture
def screen(make_app, config, db):
    """``screen(result, tapped_seconds_ago=1, **status)`` -> the /api/screen JSON at FRIDAY_2PM."""
    policy = replace(config.policy, collect_from_by_weekday={4: time(14, 30)})
    app = make_app(CLOCK=lambda: FRIDAY_2PM)
    app.extensions["phonelocker"].config = replace(config, policy=policy)
    client = app.test_client()

    def show(result: str | None, tapped_seconds_ago: float = 1.0, *, beat_age: float = 0.0,
             reader_ok: bool = True, stopped: bool = False) -> dict:
        moment = FRIDAY_2PM.replace(tzinfo=None)
        with db.session() as session:
            status = session.get(KioskStatus, LOCKER) or KioskStatus(locker_id=LOCKER)
            status.updated_at = moment - timedelta(seconds=beat_age)
            status.stopped_at = moment if stopped else None
            status.reader_ok = reader_ok
            status.hardware_json = "{}"
            status.last_tap_at = moment - timedelta(seconds=tapped_seconds_ago)
            status.last_tap_uid = AMARA_CARD
            status.last_tap_result = result
            session.merge(status)
            session.commit()
        response = client.get("/api/screen")
        assert response.status_code == 200
        return response.get_json()

    show.client = client
    return show


def test_a_refusal_says_when_collection_opens_that_day(screen):
    state = screen("refused: too_early")
    assert (state["tone"], state["message"]) == ("refused", "Collection opens at 14:30")
    assert "Collection opens at 14:30" in state["html"]["screen"]


@pytest.mark.parametrize(("result", "tone", "message"), [
    ("deposit", "ok", "Put your phone in"),
    ("collect", "ok", "Collect your phone"),
    ("reopen", "ok", "Opening again"),
    ("enrolled", "ok", "Card enrolled"),
    ("refused: year5_not_approved", "refused",
     "Year 5 phones need agreement from the school first"),
    ("refused: unknown_card", "refused", "Card not recognised: see the office"),
    ("refused: random_uid", "refused",
     "This card has a random ID (a phone or bank card?): use your card"),
    ("error", "fault", "Something went wrong: try again, or see your teacher"),
])
def test_each_tap_result_has_words_for_the_pupil(screen, result, tone, message):
    state = screen(result)
    assert (state["tone"], state["message"]) == (tone, message)


def test_the_message_gives_way_to_tap_your_card(screen):
    state = screen("deposit", tapped_seconds_ago=HOLD_SECONDS + 0.5)
    assert (state["tone"], state["message"]) == ("idle", "Tap your card")
    assert state["detail"] == "Phones can be collected from 14:30"


@pytest.mark.parametrize(("status", "message"), [
    ({"beat_age": 60}, "Locker offline"),
    ({"stopped": True}, "Locker offline"),
    ({"reader_ok": False}, "Card reader not working"),
])
def test_faults_are_shown_instead_of_taps(screen, status, message):
    state = screen("deposit", **status)
    assert (state["tone"], state["message"]) == ("fault", message)


def test_no_heartbeat_yet(client):
    state = client.get("/api/screen").get_json()
    assert (state["tone"], state["message"]) == ("fault", "Locker not started yet")


def test_the_screen_never_shows_a_name_or_card_number(screen):
    state = screen("deposit")
    page = screen.client.get("/screen").get_data(as_text=True)
    for text in (str(state), page):
        assert AMARA_CARD not in text and "Amara" not in text
    assert "Put your phone in" in page and 'data-tone="ok"' in page


def test_unknown_locker_is_404(client):
    assert client.get("/screen?locker=nope").status_code == 404
    assert client.get("/api/screen?locker=nope").status_code == 404


@pytest.mark.parametrize("path", ["/screen", "/api/screen"])
def test_only_the_pis_own_screen_needs_no_login(client, path):
    assert client.get(path).status_code == 200  # the test client asks from 127.0.0.1
    assert client.get(path, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    away = client.get(path, environ_base=ELSEWHERE)
    assert away.status_code == 302 and away.headers["Location"].startswith("/login")
    assert login(client, "teacher6k").status_code == 302
    assert client.get(path, environ_base=ELSEWHERE).status_code == 200


def test_the_lockers_panel_links_to_the_screen(as_user, heartbeat):
    heartbeat()
    page = as_user("teacher6k").get("/").get_data(as_text=True)
    assert f'href="/screen?locker={LOCKER}"' in page


def kiosk_cannot_record(config, *, age: float = 1.0) -> None:
    """The kiosk's status file as the daemon writes it while the disk is full."""
    write_status(status_path(config), {
        "locker_id": LOCKER, "ok": False, "problem": DISK_FULL,
        "written_at": (datetime.now(UTC) - timedelta(seconds=age)).isoformat(),
        "detail": "OperationalError: database or disk is full", "reader_ok": True,
        "bays": [{"bay": 1, "locked": True, "door": "closed"},
                 {"bay": 2, "locked": True, "door": "closed"}],
        "leds": {"green": False, "red": True, "buzzer": False},
    })


def test_disk_full_is_shown_with_the_real_lock_state_not_offline(as_user, heartbeat, config):
    heartbeat(age_seconds=60, locked=False)  # the last beat written: bay 1 open
    client = as_user("office")
    before = client.get("/api/lockers").get_json()
    assert before["lockers"][0]["bays"][0]["locked"] is False  # what staff used to see
    assert ">offline<" in before["html"]["lockers"]
    kiosk_cannot_record(config)
    after = client.get("/api/lockers").get_json()
    locker = after["lockers"][0]
    assert locker["problem"] == DISK_FULL and locker["state_from"] == "status file"
    assert [bay["locked"] for bay in locker["bays"]] == [True, True]
    assert "Cannot record taps: disk full" in after["html"]["lockers"]
    assert ">offline<" not in after["html"]["lockers"]
    assert ">unlocked<" not in after["html"]["lockers"]
    today = client.get("/api/today").get_json()
    assert today["lockers"][0]["problem"] == DISK_FULL
    state = client.get("/api/screen").get_json()
    assert (state["tone"], state["message"]) == ("fault", "Cannot record taps: disk full")
    assert "Phones stay locked in" in state["detail"]


def test_an_old_status_file_is_ignored(as_user, heartbeat, config):
    heartbeat(age_seconds=60)
    kiosk_cannot_record(config, age=60)  # the kiosk stopped long ago
    client = as_user("office")
    assert client.get("/api/lockers").get_json()["lockers"][0]["problem"] is None
    assert client.get("/api/screen").get_json()["message"] == "Locker offline"
