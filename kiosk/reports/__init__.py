"""Reports for governors and Ofsted: how consistently the phone policy is applied.

What lives here:

* :mod:`kiosk.reports.figures` — the figures: a few SQL queries over events,
  pupils and approvals, folded in Python into per class, per week numbers
  (the definitions are in its docstring and in docs/operations.md);
* :mod:`kiosk.reports.words` — reason codes in the words staff use;
* :mod:`kiosk.reports.charts` — small SVG charts drawn on the server;
* :mod:`kiosk.reports.render` — the report as standalone HTML (Jinja2, inline
  CSS and SVG) and as CSV tables; the dashboard's Reports page uses the same body;
* :mod:`kiosk.cli.reports` — ``phonelocker report`` and ``phonelocker bench report``;
* :mod:`kiosk.devtools.report_bench` — a school-year database built in bulk, and the timing.

Nothing here imports ``web/``.
"""
