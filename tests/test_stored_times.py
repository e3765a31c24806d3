"""kiosk/school/stored_times.py: local times from SQLite's stored text are what
iso_local makes of the parsed value, whatever the text and however many minutes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kiosk.school import stored_times
from kiosk.school.queries import iso_local
from kiosk.school.stored_times import StoredTimes


def _stored(moment: datetime) -> str:
    """The text SQLAlchemy stores for a naive UTC DateTime on SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_stored_text_across_the_uk_clock_changes(config):
    convert = StoredTimes(config)
    for start in (datetime(2026, 3, 28, 22, 0), datetime(2026, 10, 24, 22, 0)):
        for step in range(0, 60 * 60 * 8, 7 * 60 + 13):
            moment = start + timedelta(seconds=step, microseconds=step % 999)
            assert convert(_stored(moment)) == iso_local(moment, config), moment
    assert convert(None) is None


@pytest.mark.parametrize("text", ["1840-01-01 12:00:30.000000", "2026-10-25T01:30:05",
                                  "2026-10-25 00:30:05", "2026-03-29 01:00:59.999999",
                                  "9999-12-31 23:59:59.999999"])
def test_other_formats_and_old_offsets_take_the_exact_way(config, text):
    """A pre-1900 offset of whole seconds (London's mean time, -00:01:15), a "T", no
    microseconds: the same answer as parsing the text."""
    convert = StoredTimes(config)
    for _ in range(2):  # the second time from the cache
        assert convert(text) == iso_local(datetime.fromisoformat(text), config)


def test_the_cache_stays_bounded(config, monkeypatch):
    monkeypatch.setattr(stored_times, "MINUTES_KEPT", 5)
    convert = StoredTimes(config)
    moments = [datetime(2026, 10, 25, 0, 0) + timedelta(seconds=n * 97) for n in range(60)]
    for moment in moments + moments[::-1]:
        assert convert(_stored(moment)) == iso_local(moment, config)
        assert len(convert.minutes) <= 5
