"""Where the facts are kept: the database and the kiosk's status file.

* :mod:`~kiosk.store.db` — engine, sessions, migrations (Alembic, in
  ``migrations/``), SQLite pragmas and busy timeout, ``begin_write``,
  ``sqlite_file`` (the one URL-to-path helper);
* :mod:`~kiosk.store.models` — the SQLAlchemy tables;
* :mod:`~kiosk.store.events` — the one writer of events, the tap path's
  prepared inserts included (``record_tap``);
* :mod:`~kiosk.store.prepared` — statements compiled once for a dialect;
* :mod:`~kiosk.store.runtime_status` — the status file a kiosk writes when the
  database cannot be written, read by the dashboard.

May import: ``kiosk.policy``, ``kiosk.config``, ``kiosk.inputs``,
``kiosk.errors``, ``kiosk.timeutil``. Nothing above.
"""
