"""The school's calendar and whole-school emergencies.

* :mod:`kiosk.calendar.days`: term dates, closed days (INSET, snow), early
  finishes and "school closing early" today; the CSV import. The collection
  time of a date comes from here when set, otherwise from ``[policy]``.
* :mod:`kiosk.calendar.evacuation`: open every bay of every locker, recording
  whose phones were inside at that moment (the list to hand back from).
* :mod:`kiosk.calendar.cli`: ``phonelocker calendar …`` (``override --all`` is
  in ``kiosk/cli/base.py``, which calls :mod:`~kiosk.calendar.evacuation`).
"""
