"""The school's side of the domain: who the pupils and staff are, what staff ask for,
and what the dashboard and CLI read.

* :mod:`~kiosk.school.pupils` — pupils, cards, Year 5 approvals, early releases;
* :mod:`~kiosk.school.staff` — dashboard accounts and their classes;
* :mod:`~kiosk.school.pupil_csv` — reading and checking the MIS CSV export;
* :mod:`~kiosk.school.importer` — the MIS CSV import (prepared outside the write lock);
* :mod:`~kiosk.school.commands` — the commands table the office writes and the kiosk claims;
* :mod:`~kiosk.school.evacuation` — open every bay, recording whose phones were inside;
* :mod:`~kiosk.school.heartbeats` — whether a kiosk is online (one rule);
* :mod:`~kiosk.school.queries` — the read side: Today's states, lockers, events.

May import: ``kiosk.calendar``, ``kiosk.registers``, ``kiosk.store`` and below.
Never ``kiosk.locker`` (the kiosk is reached through the commands table).
"""
