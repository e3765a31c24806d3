"""Reports: the phone policy report for a range of days, on screen, printed, or as CSV.

The figures and the report's HTML come from :mod:`kiosk.reports` (the same
body as ``phonelocker report --format html``). Office and admin see the whole
school or one class; a teacher sees only their classes, and asking for
another class is refused (403).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from flask import Blueprint, Response, abort, render_template, request, url_for

from kiosk.errors import ActionError
from kiosk.reports.figures import build_report, check_range
from kiosk.reports.render import CSV_TABLES, render_body, render_csv, stylesheet
from kiosk.school.staff import check_classes
from web.access import actor, db_session, login_required, visible_classes
from web.helpers import config, local, now
from web.pupils import class_names

log = logging.getLogger(__name__)

bp = Blueprint("reports", __name__)

#: the default range: the last four weeks, today included
DEFAULT_DAYS = 28
#: the school year starts on this month (September), for the "this school year" link
SCHOOL_YEAR_MONTH = 9


def school_year_start(today: date) -> date:
    """1 September of the school year ``today`` is in."""
    year = today.year if today.month >= SCHOOL_YEAR_MONTH else today.year - 1
    return date(year, SCHOOL_YEAR_MONTH, 1)


def _arg_day(name: str, default: date) -> date:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, f"{name} {raw[:20]!r} is not a date YYYY-MM-DD")


def _request() -> dict:
    """The range and classes asked for, checked against what the user may see (400/403)."""
    today = local(now()).date()
    start = _arg_day("from", today - timedelta(days=DEFAULT_DAYS - 1))
    end = _arg_day("to", today)
    try:
        check_range(start, end)
    except ValueError as error:
        abort(400, str(error))
    asked = request.args.get("class", "").strip()[:64]
    allowed = visible_classes()
    if asked:
        try:
            chosen = check_classes(db_session(), [asked])
        except ActionError as error:
            abort(400, str(error))
        if allowed is not None and chosen[0] not in allowed:
            log.warning("user %s refused the report for class %s", actor(), chosen[0])
            abort(403)
        classes = chosen
    else:
        classes = allowed  # None: the whole school
    return {"from": start, "to": end, "class": asked, "classes": classes, "today": today}


def _args(query: dict) -> dict:
    args = {"from": query["from"].isoformat(), "to": query["to"].isoformat()}
    if query["class"]:
        args["class"] = query["class"]
    return args


@bp.get("/reports")
@login_required
def index():
    """The report page: a date range form, the report, CSV links, printable on A4."""
    query = _request()
    figures = build_report(db_session(), config(), query["from"], query["to"], now=now(),
                           classes=query["classes"])
    args = _args(query)
    links = {name: url_for("reports.export", table=name, **args) for name in CSV_TABLES}
    today = query["today"]
    keep_class = {"class": query["class"]} if query["class"] else {}
    presets = {
        label: url_for("reports.index", **{"from": first.isoformat(), "to": today.isoformat()},
                       **keep_class)
        for label, first in (("Last 4 weeks", today - timedelta(days=DEFAULT_DAYS - 1)),
                             ("This school year", school_year_start(today)))
    }
    return render_template(
        "reports.html", body=render_body(figures, csv_links=links), query=query,
        class_names=class_names(), whole_school=visible_classes() is None, presets=presets,
        csv_tables=CSV_TABLES, links=links,
    )


@bp.get("/reports.csv")
@login_required
def export():
    """One of the report's tables as CSV (UTF-8 with BOM, for Excel)."""
    query = _request()
    table = request.args.get("table", "weekly")
    if table not in CSV_TABLES:
        abort(400, f"no table {table[:20]!r}: choose from {', '.join(CSV_TABLES)}")
    figures = build_report(db_session(), config(), query["from"], query["to"], now=now(),
                           classes=query["classes"])
    log.info("report %s exported by %s", table, actor())
    name = f"phonelocker-{table}-{query['from']}-to-{query['to']}.csv"
    return Response(
        "\ufeff" + render_csv(figures, table), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/reports/report.css")
@login_required
def css():
    """The report's stylesheet (kept in kiosk/reports, shared with the standalone file)."""
    return Response(stylesheet(), mimetype="text/css")
