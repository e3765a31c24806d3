"""Looking after the data and the install: the jobs an IT person or the nightly timer runs.

* :mod:`~kiosk.care.backup`, :mod:`~kiosk.care.restore` — checked SQLite copies, made and put back
  (the file work shared in :mod:`~kiosk.care.sqlite_files`);
* :mod:`~kiosk.care.retention` — the purge, in short chunks;
* :mod:`~kiosk.care.rollover` — the new school year;
* :mod:`~kiosk.care.export` — a pupil's data (subject access);
* :mod:`~kiosk.care.nightly` — ``phonelocker maintenance``;
* :mod:`~kiosk.care.doctor` — ``phonelocker doctor``'s checks.

May import: ``kiosk.locker`` (doctor opens the hardware), ``kiosk.school`` and below.
"""
