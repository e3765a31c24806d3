"""Tools for developers and for the README's figures: not used by a running school.

* :mod:`~kiosk.devtools.bench` (with ``bench_rig``, ``probes``) — ``phonelocker bench``;
* :mod:`~kiosk.devtools.bench_import` — ``phonelocker bench import``;
* :mod:`~kiosk.devtools.demo` — the demo school on emulated hardware;
* :mod:`~kiosk.devtools.kiosk_process` — the one runner of a ``phonelocker kiosk``
  subprocess, shared by the bench, the demo and the tests;
* :mod:`~kiosk.devtools.ports` — a free port.

May import everything in ``kiosk`` below ``kiosk.cli``; never ``web``.
"""
