"""The Today view kept between requests, so that a page costs what changed.

Every open Today tab, and every teacher and office screen, asks for the same few
views: the whole school (the office) and each teacher's classes. Working one out
reads and arranges every pupil in it (at 2,000 pupils most of a page's time); it
changes only when an event is recorded (:func:`kiosk.school.queries.last_event_id`,
the same version the page's ``ETag`` is made of) or the page's frame changes
(the day, the collection time, the classes in view, the filters).

So one :class:`TodayEntry` is kept per frame and role: the view at an event id,
with its sections' HTML and its values' JSON filled in as they are first asked
for. :mod:`web.today` builds the next entry from the last one when the events in
between concern some classes only (a tap re-reads its class) and afresh otherwise.
An entry is never used at another event id, so a view is never older than what
the page's 304 answer already promises.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

#: frames kept: the office's views and the teachers' (each teacher's classes are a frame;
#: a filtered view holds the whole view's pupils, not a copy)
DEFAULT_SIZE = 32


@dataclass
class TodayEntry:
    """The Today view of one frame and role at ``event_id`` (without the lockers and the
    time, which every request reads afresh), and what has been drawn of it so far."""

    event_id: int
    view: dict[str, Any]
    sections: dict[str, str] = field(default_factory=dict)
    encoded: dict[str, str] = field(default_factory=dict)

    def section(self, name: str, draw: Callable[[], str]) -> str:
        """The HTML of section ``name``, drawn the first time it is asked for."""
        found = self.sections.get(name)
        if found is None:
            found = self.sections[name] = draw()
        return found

    def json(self, key: str, encode: Callable[[Any], str]) -> str:
        """``encode(view[key])``, encoded the first time it is asked for."""
        return self.json_text(key, self.view[key], encode)

    def json_text(self, key: str, value: Any, encode: Callable[[Any], str]) -> str:
        """``encode(value)`` kept under ``key`` (a section's HTML as JSON, for one)."""
        found = self.encoded.get(key)
        if found is None:
            found = self.encoded[key] = encode(value)
        return found


class TodayCache:
    """The newest :class:`TodayEntry` of each frame, the least recently used dropped
    beyond ``size`` frames. Safe to share between the web server's threads."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, TodayEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> TodayEntry | None:
        """The newest entry of frame ``key``, if any."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: TodayEntry) -> None:
        """Keep ``entry`` as frame ``key``'s newest. (Two requests building one at the same
        time: the last one kept may be the older; the next request then reads the classes
        changed since it. A database restored from a backup has older event ids: its
        entries replace the newer ones, never the other way.)"""
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
