"""The bounds in kiosk/inputs.py that the CLI and the dashboard share."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.inputs import InputError, check_bay, check_text, parse_day, parse_db_id


def test_database_ids_are_1_to_2_63_minus_1():
    assert parse_db_id("1") == 1
    assert parse_db_id(" 9223372036854775807 ") == 2**63 - 1
    assert parse_db_id("0009") == 9
    for text in ("0", "-1", "9223372036854775808", str(2**64), "9" * 5000):
        with pytest.raises(InputError, match="must be between 1 and 9223372036854775807"):
            parse_db_id(text, "pupil")
    for text in ("", "abc", "1.5", "1e3", "١٢٣", "1_000", "\x00"):
        with pytest.raises(InputError, match="must be a whole number"):
            parse_db_id(text)


def test_days_are_2000_to_2100():
    assert parse_day("2000-01-01") == date(2000, 1, 1)
    assert parse_day("2100-12-31") == date(2100, 12, 31)
    with pytest.raises(InputError, match="out of range"):
        parse_day("9999-12-31")
    for text in ("0000-00-00", "2026-02-30", "20260101", "2026-1-1", "٢٠٢٦-٠١-٠١", "x" * 5000):
        with pytest.raises(InputError, match="is not a date YYYY-MM-DD"):
            parse_day(text, "until")


def test_text_may_not_hold_control_characters():
    assert check_text("Zoë O'Brien-Smith ☃", "name") == "Zoë O'Brien-Smith ☃"
    expected = r"name must not contain control characters \(U\+0000, U\+001B\)"
    with pytest.raises(InputError, match=expected):
        check_text("a\x00b\x1b", "name")
    with pytest.raises(InputError, match=r"U\+000A"):
        check_text("two\nlines", "reason")


def test_a_bay_must_be_one_the_locker_has():
    assert check_bay(None, [1]) is None
    assert check_bay(2, [1, 2]) == 2
    with pytest.raises(InputError, match="bay 99 does not exist on the locker \\(bays: 1, 2\\)"):
        check_bay(99, [2, 1])
