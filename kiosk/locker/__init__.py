"""The locker daemon (``phonelocker kiosk``): one process per locker, on the Pi.

* :mod:`~kiosk.locker.tap` — tap → decide → record → open → feedback (``KioskService``);
* :mod:`~kiosk.locker.enrolment` — the next new card becomes a pupil's;
* :mod:`~kiosk.locker.override` — emergency unlocks and forced doors;
* :mod:`~kiosk.locker.daemon` — the reader thread, the command loop;
* :mod:`~kiosk.locker.write_faults` — refusing, flashing and saying so while writes fail;
* :mod:`~kiosk.locker.heartbeat` — the kiosk_status row, one writer;
* :mod:`~kiosk.locker.clock` — clock steps and suspicion;
* :mod:`~kiosk.locker.stopping`, :mod:`~kiosk.locker.sdnotify` — signals, systemd;
* :mod:`~kiosk.locker.hwtest` — ``phonelocker hw-test``.

May import: ``hardware``, ``kiosk.school`` and below. The web never imports this package.
"""
