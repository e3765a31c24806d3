"""The school's calendar: term dates, closed days (INSET, snow), early finishes.

* :mod:`kiosk.calendar.days`: set, clear and list days, "school closing early"
  today, and the CSV import. The collection time of a date comes from here
  when set, otherwise from ``[policy]`` (decided by :func:`kiosk.policy.collection_time`).

Imports only ``kiosk.store`` and below: the read side (``kiosk.school.queries``)
and the tap path (``kiosk.locker.tap``) read it. Opening every bay in an
evacuation is an office action on the commands table: :mod:`kiosk.school.evacuation`.
The command line is :mod:`kiosk.cli.calendar`.
"""
