"""Local ISO 8601 times straight from SQLite's stored text of a naive UTC ``DateTime``.

SQLite keeps ``events.at`` as text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC). The readers
of a year of events (the History CSV, ``phonelocker events --json``) select it as
that text (``type_coerce(Event.at, String)``) and look its local time up by the
minute's text, so no ``datetime`` is made per row: that is a quarter of reading the
rows. The result is what :func:`~kiosk.school.queries.iso_local` makes of the
parsed value, for every stored format (tests/test_stored_times.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from kiosk.config import Config
from kiosk.school.queries import local_iso

#: minutes whose local text is kept; a full cache is emptied. The readers go in time
#: order, so a minute's rows come together: a small cache hits as often as a big one
#: (and the History CSV's memory is measured: see web/memory.py)
MINUTES_KEPT = 1024


class StoredTimes:
    """The converter of one config's zone. The row loops that cannot afford a call per
    row inline the look-up::

        minute = times.minutes.get(at[:16]) or times.minute(at)
        text = f"{minute[0]}{at[17:19]}{minute[1]}" if minute else times.slow(at)

    (that is :meth:`__call__`)."""

    def __init__(self, config: Config) -> None:
        self._iso = local_iso(config)
        self._zone = config.policy.zone
        #: the UTC minute's text ("YYYY-MM-DD HH:MM") -> the local text before and after
        #: the seconds, or () where the text must take :meth:`slow`
        self.minutes: dict[str, tuple[str, str] | tuple[()]] = {}

    def __call__(self, at: str | None) -> str | None:
        """The local ISO 8601 time (seconds, offset) of the stored text ``at``."""
        if at is None:
            return None
        minute = self.minutes.get(at[:16]) or self.minute(at)
        return f"{minute[0]}{at[17:19]}{minute[1]}" if minute else self.slow(at)

    def slow(self, at: str) -> str:
        """The exact way, through a ``datetime``."""
        return self._iso(datetime.fromisoformat(at))

    def minute(self, at: str) -> tuple[str, str] | tuple[()]:
        """The local time's text before and after the seconds, for the UTC minute of the
        stored text ``at``; ``()`` where it cannot be (another format, or a pre-1900
        offset of whole seconds, whose local seconds differ from UTC's)."""
        if len(self.minutes) >= MINUTES_KEPT:
            self.minutes.clear()
        try:
            moment = datetime.fromisoformat(at[:16])
        except ValueError:
            moment = None
        if (moment is None or len(at) < 19 or at[10] != " " or at[16] != ":"
                or moment.replace(tzinfo=UTC).astimezone(self._zone).utcoffset().seconds % 60):
            found = ()
        else:
            text = self._iso(moment)  # YYYY-MM-DDTHH:MM:00+HH:MM
            found = (text[:17], text[19:])
        self.minutes[at[:16]] = found
        return found
