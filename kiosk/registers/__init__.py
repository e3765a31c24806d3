"""The school's registers of agreed exceptions to the phone rules.

* :mod:`kiosk.registers.exceptions`: pupils who keep their phone (medical, SEND,
  young carer, other): add and end, each audited.
* :mod:`kiosk.registers.arrangements`: staff special arrangements the
  headteacher agrees case by case: add and end, each audited.
* :mod:`kiosk.registers.queries`: what is in force on a day, what is due for
  review, and the JSON-ready rows the CLI and the dashboard show.
* :mod:`kiosk.cli.registers`: ``phonelocker exceptions ...`` and
  ``phonelocker arrangements ...``.

When an entry applies is decided by :func:`kiosk.policy.exception_in_force`.
Imports only ``kiosk.store`` and below: the read side (``kiosk.school.queries``)
shows exceptions on Today and in ``status``.
"""
