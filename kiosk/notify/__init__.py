"""Email notices: ``phonelocker notify``, run by a systemd timer every minute.

The kiosk never waits on a mail server: it only writes the database, and
this package reads it afterwards.

- the shape of an email address is checked by :func:`kiosk.inputs.clean_address`.
- :mod:`kiosk.notify.compose` words each notice (pure, table-tested): no pupil
  name in a subject, names in a body only for the classes its reader may see.
- :mod:`kiosk.notify.finder` finds the occasions in the database (phones not
  collected, kept overnight, a kiosk offline or its reader faulty and its
  recovery, a forced door or emergency unlock) and queues them.
- :mod:`kiosk.notify.outbox` is the ``notices`` table: queue idempotently, send
  what is due over SMTP, back off on failure.
- :mod:`kiosk.notify.run` ties them together (:func:`run_notify`).
- the ``notify`` command is :mod:`kiosk.cli.notify`.
"""
