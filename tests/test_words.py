"""The one table of staff words (kiosk/reports/words.py): every code has words."""

from __future__ import annotations

import re
from datetime import date, datetime, time

import pytest

from kiosk.calendar.days import entry, set_day
from kiosk.policy import REFUSAL_MESSAGES, Refusal
from kiosk.reports.words import (
    KIND_WORDS,
    PUPIL_KINDS,
    REFUSAL_WORDS,
    STATE_WORDS,
    CollectionTimes,
    date_range_words,
    event_words,
    kind_words,
    place_words,
    reason_words,
    refusal_message,
    refusal_words,
    school_date,
    sentence,
    state_words,
    tap_result_words,
)
from kiosk.store.events import Kind

#: what staff must never read: a code with an underscore, or the string None
CODE_LIKE = re.compile(r"_|\bNone\b")


@pytest.mark.parametrize("kind", list(Kind))
def test_every_event_kind_has_words(kind):
    words = KIND_WORDS.get(kind)
    assert words, f"Kind.{kind.name} has no staff words in kiosk/reports/words.py"
    assert not CODE_LIKE.search(words)
    assert kind_words(kind.value) == words


@pytest.mark.parametrize("code", list(Refusal))
def test_every_refusal_reason_has_words(code):
    words = REFUSAL_WORDS.get(code)
    assert words, f"Refusal.{code.name} has no staff words in kiosk/reports/words.py"
    assert not CODE_LIKE.search(words)
    assert event_words("refused", code.value) == f"refused — {words}"


def test_no_table_has_a_code_it_does_not_know():
    # a code removed from Kind/Refusal must leave the table too
    assert set(KIND_WORDS) == {k.value for k in Kind}
    assert set(REFUSAL_WORDS) == {r.value for r in Refusal}
    assert set(PUPIL_KINDS) <= set(KIND_WORDS)


def test_the_clients_words():
    assert kind_words("deposit") == "handed in"
    assert kind_words("collect") == "collected"
    assert kind_words("reopen") == "opened again"
    assert kind_words("office_return") == "handed back by the office"
    assert kind_words("kept_in_office") == "kept in the office"
    assert kind_words("override") == "emergency unlock"
    assert refusal_words("unknown_card") == "card not recognised"
    assert refusal_words("card_revoked") == "card cancelled"
    assert event_words("refused", "too_early", opens_at=time(15, 15)) == (
        "refused — collection opens 15:15")
    assert event_words("refused", "too_early") == "refused — too early to collect"


def test_unknown_and_missing_codes_never_read_none():
    assert kind_words(None) == "" and kind_words("") == ""
    assert kind_words("something_new") == "something new"
    assert refusal_words(None) == "no reason recorded"
    assert refusal_words("something_new") == "something new"
    assert event_words("refused", None) == "refused — no reason recorded"
    assert state_words(None) == "" and tap_result_words(None) == ""
    assert place_words(None, None) == ""


def test_states_and_tap_results():
    assert set(STATE_WORDS) == {"not_handed_in", "in_locker", "collected", "school_closed"}
    assert state_words("not_handed_in") == "not handed in"
    assert tap_result_words("deposit") == "handed in"
    assert tap_result_words("refused: unknown_card") == "refused — card not recognised"
    assert tap_result_words("refused: too_early", time(15, 15)) == (
        "refused — collection opens 15:15")


def test_refusal_message_is_the_kiosks_own():
    assert refusal_message("year5_not_approved", None) == (
        REFUSAL_MESSAGES[Refusal.YEAR5_NOT_APPROVED])
    assert refusal_message("too_early", time(15, 15)) == "Collection opens at 15:15"
    assert refusal_message("too_early", None) == "too early to collect"
    assert refusal_message("from_a_newer_kiosk", None) == "from a newer kiosk"


def test_place_is_the_lockers_name_and_bay():
    assert place_words("Class 6K locker", 1, "demo-6k") == "Class 6K locker, bay 1"
    assert place_words(None, 1, "demo-6k") == "demo-6k, bay 1"  # a forgotten locker
    assert place_words("Class 6K locker", None) == "Class 6K locker"
    assert place_words(None, 2) == "bay 2"


def test_school_dates():
    today = date(2026, 12, 1)
    assert school_date(date(2026, 12, 1), today) == "Tuesday 1 December"
    assert school_date("2026-11-30T09:00:00+00:00", today) == "Monday 30 November"
    assert school_date(date(2025, 12, 1), today) == "Monday 1 December 2025"
    assert school_date(datetime(2027, 1, 4, 8, 0), today) == "Monday 4 January 2027"
    assert school_date(date(2026, 12, 1)) == "Tuesday 1 December 2026"
    assert school_date(None, today) == "" and school_date("", today) == ""


def test_sentence():
    assert sentence("card not recognised") == "Card not recognised"
    assert sentence("Year 5 without agreement") == "Year 5 without agreement"
    assert sentence("") == ""


def test_collection_times_follow_the_calendar(db, config):
    with db.session() as session:
        set_day(session, entry(date(2026, 12, 18), closed=False, collect_from=time(13, 30),
                               reason="last day of term"),
                by="office", now=datetime(2026, 12, 1, 9, 0))
        session.commit()
        times = CollectionTimes(session, config)
        # stored naive UTC: 10:00 UTC on 18 December is that local day
        assert times.event_words("refused", "too_early", datetime(2026, 12, 18, 10, 0)) == (
            "refused — collection opens 13:30")
        usual = config.policy.collection_time(date(2026, 12, 17).weekday())
        assert times.on(datetime(2026, 12, 17, 10, 0)) == usual
        assert times.event_words("deposit", None, datetime(2026, 12, 17, 10, 0)) == "handed in"


def test_reasons_beside_the_words():
    assert reason_words("refused", "too_early") == ""  # said in the "what"
    assert reason_words("pupil_updated", "class, external_id") == "class, school MIS id"
    assert reason_words("pupil_updated", "deactivated") == "left the school"
    assert reason_words("override", "inhaler needed") == "inhaler needed"
    assert reason_words("deposit", None) == ""


def test_date_ranges():
    today = date(2026, 12, 1)
    assert date_range_words(date(2026, 11, 1), date(2026, 11, 30), today) == "1–30 November"
    assert date_range_words(date(2026, 11, 30), date(2026, 12, 4), today) == (
        "30 November – 4 December")
    assert date_range_words(date(2026, 12, 1), date(2026, 12, 1), today) == "Tuesday 1 December"
    assert date_range_words(date(2025, 12, 1), date(2026, 1, 5), today) == (
        "1 December 2025 – 5 January 2026")
    assert date_range_words(date(2025, 11, 1), date(2025, 11, 3), today) == "1–3 November 2025"
