"""Table tests for the pure decision function: one row per rule of the school's policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from kiosk.config import PolicyConfig
from kiosk.policy import (
    Action,
    Approval,
    LastAction,
    PupilFacts,
    TapFacts,
    decide,
    is_random_uid,
    tap_message,
)

LONDON = ZoneInfo("Europe/London")
RULES = PolicyConfig(
    collect_from=time(15, 15),
    collect_from_by_weekday={4: time(14, 30)},  # Friday
    grace_seconds=60,
    debounce_seconds=2,
    timezone="Europe/London",
)


def local(day: str, hhmm: str) -> datetime:
    """A London wall-clock time, as the aware UTC instant the kiosk would have."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=LONDON).astimezone(UTC)


MONDAY = "2026-11-30"  # winter: London = UTC
FRIDAY = "2026-12-04"
SUMMER_MONDAY = "2026-06-15"  # BST: London = UTC+1
assert date.fromisoformat(MONDAY).weekday() == 0
assert date.fromisoformat(FRIDAY).weekday() == 4
assert date.fromisoformat(SUMMER_MONDAY).weekday() == 0

APPROVED = (Approval(approved_at=local("2026-09-01", "09:00")),)
EXPIRED = (Approval(approved_at=local("2026-09-01", "09:00"), until=date(2026, 10, 31)),)
REVOKED = (
    Approval(
        approved_at=local("2026-09-01", "09:00"), revoked_at=local("2026-11-01", "09:00")
    ),
)
FUTURE = (Approval(approved_at=local("2027-01-01", "09:00")),)


def facts(
    *,
    uid: str = "04A1B2C3D4E5F6",
    year: int = 6,
    known: bool = True,
    card_active: bool = True,
    pupil_active: bool = True,
    bay: int | None = None,
    approvals: tuple = (),
    releases: frozenset = frozenset(),
    holding_since: datetime | None = None,
    holding_bay: int | None = None,
    last: LastAction | None = None,
    previous_tap_at: datetime | None = None,
    bays: tuple[int, ...] = (1,),
) -> TapFacts:
    pupil = (
        PupilFacts(
            id=1, year=year, active=pupil_active, bay=bay, approvals=approvals,
            early_release_dates=releases,
        )
        if known
        else None
    )
    return TapFacts(
        uid=uid,
        card_known=known,
        card_active=card_active,
        pupil=pupil,
        holding_since=holding_since,
        holding_bay=holding_bay if holding_bay is not None else (1 if holding_since else None),
        last_action=last,
        previous_tap_at=previous_tap_at,
        locker_bays=bays,
    )


MORNING = local(MONDAY, "08:40")
IN_SINCE = local(MONDAY, "08:35")

CASES = [
    # id, facts, now, expected action, expected reason, expected bay
    ("year6 deposits", facts(), MORNING, Action.DEPOSIT, None, 1),
    ("year5 approved deposits", facts(year=5, approvals=APPROVED), MORNING, Action.DEPOSIT, None, 1),
    ("year5 unapproved refused", facts(year=5), MORNING, Action.REFUSE, "year5_not_approved", None),
    ("year5 expired approval refused", facts(year=5, approvals=EXPIRED), MORNING,
     Action.REFUSE, "year5_not_approved", None),
    ("year5 revoked approval refused", facts(year=5, approvals=REVOKED), MORNING,
     Action.REFUSE, "year5_not_approved", None),
    ("year5 future approval refused", facts(year=5, approvals=FUTURE), MORNING,
     Action.REFUSE, "year5_not_approved", None),
    ("year5 approval until today in force",
     facts(year=5, approvals=(Approval(local("2026-09-01", "09:00"), until=date(2026, 11, 30)),)),
     MORNING, Action.DEPOSIT, None, 1),
    ("year4 refused", facts(year=4), MORNING, Action.REFUSE, "year_not_allowed", None),
    ("year3 approved is still refused", facts(year=3, approvals=APPROVED), MORNING,
     Action.REFUSE, "year_not_allowed", None),
    ("inactive pupil refused", facts(pupil_active=False), MORNING,
     Action.REFUSE, "pupil_inactive", None),
    ("unknown card refused", facts(known=False), MORNING, Action.REFUSE, "unknown_card", None),
    ("revoked card refused", facts(card_active=False), MORNING, Action.REFUSE, "card_revoked", None),
    ("random UID refused", facts(uid="08A1B2C3", known=False), MORNING,
     Action.REFUSE, "random_uid", None),
    ("random UID refused even if enrolled", facts(uid="08A1B2C3"), MORNING,
     Action.REFUSE, "random_uid", None),
    ("7-byte UID starting 08 is not random", facts(uid="08A1B2C3D4E5F6"), MORNING,
     Action.DEPOSIT, None, 1),
    ("own bay in a multi-bay locker", facts(bay=2, bays=(1, 2, 3)), MORNING, Action.DEPOSIT, None, 2),
    ("no bay in a multi-bay locker", facts(bays=(1, 2)), MORNING, Action.REFUSE, "no_bay", None),
    ("collect before time refused", facts(holding_since=IN_SINCE), local(MONDAY, "15:14"),
     Action.REFUSE, "too_early", None),
    ("collect at time", facts(holding_since=IN_SINCE), local(MONDAY, "15:15"),
     Action.COLLECT, None, 1),
    ("collect from holding bay", facts(holding_since=IN_SINCE, holding_bay=3, bays=(1, 2, 3)),
     local(MONDAY, "15:30"), Action.COLLECT, None, 3),
    ("friday override opens earlier", facts(holding_since=local(FRIDAY, "08:30")),
     local(FRIDAY, "14:30"), Action.COLLECT, None, 1),
    ("friday override still refuses before", facts(holding_since=local(FRIDAY, "08:30")),
     local(FRIDAY, "14:29"), Action.REFUSE, "too_early", None),
    ("early release today", facts(holding_since=IN_SINCE, releases=frozenset({date(2026, 11, 30)})),
     local(MONDAY, "11:00"), Action.COLLECT, "early_release", 1),
    ("early release another day does not count",
     facts(holding_since=IN_SINCE, releases=frozenset({date(2026, 11, 27)})),
     local(MONDAY, "11:00"), Action.REFUSE, "too_early", None),
    ("year5 collects own phone after approval ended",
     facts(year=5, approvals=REVOKED, holding_since=IN_SINCE), local(MONDAY, "15:20"),
     Action.COLLECT, None, 1),
    ("grace after deposit reopens",
     facts(holding_since=IN_SINCE, last=LastAction("deposit", IN_SINCE, 1)),
     IN_SINCE + timedelta(seconds=30), Action.REOPEN, None, 1),
    ("grace after collect reopens",
     facts(last=LastAction("collect", local(MONDAY, "15:20"), 1)),
     local(MONDAY, "15:20") + timedelta(seconds=59), Action.REOPEN, None, 1),
    ("after grace a second tap is a collect attempt",
     facts(holding_since=IN_SINCE, last=LastAction("deposit", IN_SINCE, 1)),
     IN_SINCE + timedelta(seconds=61), Action.REFUSE, "too_early", None),
    ("after grace following a collect a tap deposits again",
     facts(last=LastAction("collect", local(MONDAY, "15:20"), 1)),
     local(MONDAY, "15:22"), Action.DEPOSIT, None, 1),
    ("debounce ignores", facts(previous_tap_at=MORNING - timedelta(seconds=1)), MORNING,
     Action.IGNORE, "debounce", None),
    ("debounce applies to unknown cards too",
     facts(known=False, previous_tap_at=MORNING - timedelta(seconds=1.9)), MORNING,
     Action.IGNORE, "debounce", None),
    ("after debounce window decides", facts(previous_tap_at=MORNING - timedelta(seconds=2)),
     MORNING, Action.DEPOSIT, None, 1),
    ("revoked card cannot use grace",
     facts(card_active=False, holding_since=IN_SINCE, last=LastAction("deposit", IN_SINCE, 1)),
     IN_SINCE + timedelta(seconds=5), Action.REFUSE, "card_revoked", None),
    # DST: 15:15 London in summer is 14:15 UTC.
    ("summer collect at 15:15 BST", facts(holding_since=local(SUMMER_MONDAY, "08:30")),
     datetime(2026, 6, 15, 14, 15, tzinfo=UTC), Action.COLLECT, None, 1),
    ("summer 15:10 BST is too early even though 15:10 UTC is later",
     facts(holding_since=local(SUMMER_MONDAY, "08:30")),
     datetime(2026, 6, 15, 14, 10, tzinfo=UTC), Action.REFUSE, "too_early", None),
]


@pytest.mark.parametrize(
    ("tap", "now", "action", "reason", "bay"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision_table(tap, now, action, reason, bay):
    decision = decide(tap, now, RULES)
    assert decision.action is action
    assert decision.reason == reason
    if bay is not None:
        assert decision.bay == bay
    if action is Action.REFUSE:
        assert decision.message, "a refusal always tells the pupil why"
        # The locker screen words it from the kiosk's report exactly as the kiosk did.
        opens_at = RULES.collection_time(now.astimezone(RULES.zone).weekday())
        assert tap_message(f"refused: {reason}", opens_at) == ("refused", decision.message)
    elif decision.opens_lock:  # the screen cannot tell a reopen's action: the start will do
        tone, words = tap_message(str(action), time(15, 15))
        assert tone == "ok" and decision.message.startswith(words)


def test_too_early_says_when_collection_opens():
    decision = decide(facts(holding_since=IN_SINCE), local(MONDAY, "12:00"), RULES)
    assert decision.opens_at == time(15, 15)
    assert "15:15" in decision.message
    friday = decide(facts(holding_since=local(FRIDAY, "08:30")), local(FRIDAY, "12:00"), RULES)
    assert "14:30" in friday.message


def test_overnight_phone_is_flagged_and_still_waits_for_collection_time():
    yesterday = local("2026-11-27", "08:30")  # Friday's phone, left over the weekend
    morning = decide(facts(holding_since=yesterday), local(MONDAY, "08:45"), RULES)
    assert morning.action is Action.REFUSE and morning.overnight
    afternoon = decide(facts(holding_since=yesterday), local(MONDAY, "15:30"), RULES)
    assert afternoon.action is Action.COLLECT and afternoon.overnight


def test_same_day_phone_is_not_overnight_across_utc_midnight_in_summer():
    # 00:30 BST on the 15th is 23:30 UTC on the 14th: the local date decides.
    since = datetime(2026, 6, 14, 23, 30, tzinfo=UTC)
    decision = decide(facts(holding_since=since), datetime(2026, 6, 15, 14, 20, tzinfo=UTC), RULES)
    assert decision.action is Action.COLLECT
    assert not decision.overnight


def test_reopen_repeats_the_same_action_and_bay():
    decision = decide(
        facts(holding_since=IN_SINCE, holding_bay=2, bays=(1, 2),
              last=LastAction("deposit", IN_SINCE, 2)),
        IN_SINCE + timedelta(seconds=10),
        RULES,
    )
    assert decision.action is Action.REOPEN
    assert decision.repeats == "deposit"
    assert decision.bay == 2
    assert decision.opens_lock


def test_naive_now_is_rejected():
    with pytest.raises(ValueError):
        decide(facts(), datetime(2026, 11, 30, 8, 40), RULES)


@pytest.mark.parametrize(
    ("uid", "random"),
    [("08123456", True), ("08ABCDEF", True), ("04123456", False), ("0812345678ABCD", False),
     ("1A2B3C4D", False)],
)
def test_random_uid_detection(uid, random):
    assert is_random_uid(uid) is random


def test_tap_message_for_results_the_screen_cannot_know():
    assert tap_message("refused: some_future_reason", time(15, 15)) == (
        "refused", "Not accepted: see your teacher")
    assert tap_message("error", time(15, 15))[0] == "fault"


@pytest.mark.parametrize("name, said", [
    ("6K", "Your phone is in the 6K locker"),
    ("Class 6R locker", "Your phone is in the Class 6R locker"),
])
def test_a_phone_in_another_locker_is_collected_there_not_handed_in_again(name, said):
    import dataclasses

    held = dataclasses.replace(facts(holding_since=IN_SINCE), holding_elsewhere=name)
    for moment in (local(MONDAY, "08:45"), local(MONDAY, "15:30")):
        decision = decide(held, moment, RULES)
        assert decision.action is Action.REFUSE and decision.reason == "in_other_locker"
        assert decision.message == said
    here = decide(facts(holding_since=IN_SINCE), local(MONDAY, "15:30"), RULES)
    assert here.action is Action.COLLECT
