"""Table tests for when a register entry applies (kiosk.policy.exception_in_force)
and when an exception is due for review (kiosk.policy.review_due)."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.policy import Period, exception_in_force, review_due

D = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("period", "day", "expected"),
    [
        # started today, open-ended
        (Period(starts_on=D), D, True),
        # starts tomorrow: not yet
        (Period(starts_on=date(2026, 12, 2)), D, False),
        # long-standing, no end
        (Period(starts_on=date(2020, 9, 1)), D, True),
        # last day is today: still applies (until is inclusive)
        (Period(starts_on=date(2026, 9, 1), until=D), D, True),
        # last day was yesterday: stops applying by itself
        (Period(starts_on=date(2026, 9, 1), until=date(2026, 11, 30)), D, False),
        # ended early today: no longer applies today
        (Period(starts_on=date(2026, 9, 1), ended_on=D), D, False),
        # ended early yesterday
        (Period(starts_on=date(2026, 9, 1), ended_on=date(2026, 11, 30)), D, False),
        # ended tomorrow (seen from today, looking back at a day it applied)
        (Period(starts_on=date(2026, 9, 1), ended_on=date(2026, 12, 2)), D, True),
        # one-day entry
        (Period(starts_on=D, until=D), D, True),
        (Period(starts_on=D, until=D), date(2026, 12, 2), False),
        # ended before it started (ended the day it was due to start)
        (Period(starts_on=D, ended_on=D), D, False),
    ],
)
def test_exception_in_force(period, day, expected):
    assert exception_in_force(period, day) is expected


@pytest.mark.parametrize(
    ("review_on", "expected"),
    [
        (None, False),
        (date(2026, 11, 1), True),   # passed
        (D, True),                   # today
        (date(2026, 12, 15), True),  # in 14 days
        (date(2026, 12, 16), False),  # in 15 days
        (date(2027, 6, 1), False),
    ],
)
def test_review_due_within_fourteen_days(review_on, expected):
    assert review_due(review_on, D) is expected
