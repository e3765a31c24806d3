"""The calendar as a fact in the pure policy: closed days, early finishes, closing early."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from kiosk.config import PolicyConfig
from kiosk.policy import (
    Action,
    PupilFacts,
    SchoolDay,
    TapFacts,
    collection_time,
    decide,
)

RULES = PolicyConfig(collect_from=time(15, 15), collect_from_by_weekday={2: time(12, 30)})
# Tuesday 1 December 2026, 13:10 in London (GMT)
NOW = datetime(2026, 12, 1, 13, 10, tzinfo=UTC)
TODAY = date(2026, 12, 1)


def holding_facts(day: SchoolDay | None) -> TapFacts:
    return TapFacts(
        uid="04A1B2C3D4E5F6", card_known=True, card_active=True,
        pupil=PupilFacts(id=1, year=6, bay=1),
        holding_since=NOW - timedelta(hours=5), holding_bay=1, school_day=day,
    )


def test_no_entry_uses_the_policy_and_its_weekday_times():
    assert collection_time(RULES, TODAY, None) == time(15, 15)
    assert collection_time(RULES, TODAY + timedelta(days=1), None) == time(12, 30)  # Wednesday


def test_an_early_finish_moves_the_collection_time():
    day = SchoolDay(TODAY, collect_from=time(13, 30), reason="last day of term")
    assert collection_time(RULES, TODAY, day) == time(13, 30)
    refused = decide(holding_facts(day), NOW, RULES)
    assert refused.action is Action.REFUSE and refused.reason == "too_early"
    assert refused.opens_at == time(13, 30)
    assert refused.message == "Collection opens at 13:30"


def test_closing_early_lets_the_phone_out_at_once():
    assert decide(holding_facts(None), NOW, RULES).action is Action.REFUSE
    day = SchoolDay(TODAY, collect_from=time(13, 10), reason="snow")
    decision = decide(holding_facts(day), NOW, RULES)
    assert decision.action is Action.COLLECT and decision.reason is None


def test_a_closed_day_allows_collection_at_any_time():
    day = SchoolDay(TODAY, closed=True, reason="INSET day")
    early = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    assert decide(holding_facts(day), early, RULES).action is Action.COLLECT


def test_an_entry_for_another_date_is_ignored():
    yesterday = SchoolDay(TODAY - timedelta(days=1), closed=True, reason="snow day")
    assert collection_time(RULES, TODAY, yesterday) == time(15, 15)
    assert decide(holding_facts(yesterday), NOW, RULES).action is Action.REFUSE


def test_the_local_date_decides_which_entry_applies_in_summer_time():
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: the 1 July entry applies.
    summer_now = datetime(2027, 6, 30, 23, 30, tzinfo=UTC)
    day = SchoolDay(date(2027, 7, 1), closed=True, reason="INSET day")
    facts = holding_facts(day)
    assert decide(facts, summer_now, RULES).action is Action.COLLECT
