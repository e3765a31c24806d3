"""The report as HTML (the dashboard's body, or a standalone file) and as CSV tables.

The HTML is rendered with Jinja2 from ``kiosk/reports/templates`` (kiosk never
imports ``web/``). :func:`render_body` is the report itself, shared by the
dashboard page and :func:`render_file`, which wraps it into one self-contained
file: the CSS inline, the charts inline SVG, no link to anything outside it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from kiosk.reports import charts
from kiosk.reports.figures import HAND_IN_BY, Counts, Report
from kiosk.reports.words import override_words, place_words, refusal_words, sentence

ALL_CLASSES = "All classes"
#: CSV table name -> what it holds (``phonelocker report --table``, the page's links)
CSV_TABLES: dict[str, str] = {
    "weekly": "per class and week: hand-ins by time, late and missed collections, overnight",
    "refusals": "refused taps per week and reason",
    "unlocks": "emergency unlocks and open-alls, with who and why",
    "approvals": "Year 5 approvals in force in the range",
}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kiosk.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["percent"] = percent
    env.filters["week"] = week_label
    env.globals["refusal_words"] = lambda code: sentence(refusal_words(code))
    env.globals["override_words"] = override_words
    env.globals["place_words"] = place_words
    return env


def stylesheet() -> str:
    """The report's CSS (screen and A4 print), inlined in the file, served by the dashboard."""
    return resources.files("kiosk.reports").joinpath("report.css").read_text(encoding="utf-8")


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}\u00a0%"


def week_label(monday) -> str:
    return f"w/c {monday:%d %b %Y}"


def _cut(index: int) -> str:
    return f"{HAND_IN_BY[index]:%H:%M}"


def report_charts(report: Report) -> dict[str, Markup]:
    """The three charts: weekly hand-ins (stacked shares), weekly collections, refusals."""
    labels = [f"{week:%d %b}" for week in report.weeks]
    weekly = [report.by_week[week] for week in report.weeks]

    def shares(pick) -> list[float | None]:
        return [None if not c.allowed else 100.0 * pick(c) / c.allowed for c in weekly]

    hand_ins = charts.stacked_bars(
        "chart-hand-ins", "Phones handed in, by week",
        "For each week, the share of pupil-days allowed a phone on which a phone was handed in "
        f"by {_cut(0)}, between {_cut(0)} and {_cut(1)}, after {_cut(1)}, or not at all. "
        + _describe_weeks(report, weekly),
        labels,
        charts.series([
            (f"by {_cut(0)}", shares(lambda c: c.by_first)),
            (f"{_cut(0)}–{_cut(1)}", shares(lambda c: c.by_second - c.by_first)),
            (f"after {_cut(1)}", shares(lambda c: c.handed_in - c.by_second)),
            ("not handed in", shares(lambda c: c.allowed - c.handed_in)),
        ]),
        maximum=100,
    )
    collections = charts.grouped_bars(
        "chart-collections", "Late and missed collections, and phones kept overnight, by week",
        "For each week, the number of late collections, missed collections and phones kept "
        "overnight. " + "; ".join(
            f"{week_label(w)}: {c.late} late, {c.missed} missed, {c.overnight} overnight"
            for w, c in zip(report.weeks, weekly, strict=True)) + ".",
        labels,
        charts.series([
            ("late", [c.late for c in weekly]),
            ("missed", [c.missed for c in weekly]),
            ("kept overnight", [c.overnight for c in weekly]),
        ]),
    )
    totals = report.refusal_totals.most_common()
    refusals = charts.horizontal_bars(
        "chart-refusals", "Refused taps by reason",
        "Refused taps in the range, by reason: "
        + ("; ".join(f"{sentence(refusal_words(code))}: {count}" for code, count in totals)
           or "none")
        + ".",
        [sentence(refusal_words(code)) for code, _count in totals],
        [count for _code, count in totals],
    )
    return {"hand_ins": hand_ins, "collections": collections, "refusals": refusals}


def _describe_weeks(report: Report, weekly: Sequence[Counts]) -> str:
    parts = [
        f"{week_label(w)}: {percent(c.share_by_first)} by {_cut(0)}, "
        f"{percent(c.share_handed_in)} at all"
        for w, c in zip(report.weeks, weekly, strict=True)
    ]
    return ("; ".join(parts) or "No school days in the range") + "."


def render_body(report: Report, *, csv_links: dict[str, str] | None = None) -> Markup:
    """The report's sections as HTML (no ``<html>``): headings, charts, tables.

    ``csv_links`` maps a :data:`CSV_TABLES` name to a URL, shown beside what it holds.
    """
    template = _environment().get_template("report_body.html")
    return Markup(template.render(
        report=report, charts=report_charts(report), csv_links=csv_links or {},
        cut_first=_cut(0), cut_second=_cut(1), all_classes=ALL_CLASSES,
    ))


def render_file(report: Report) -> str:
    """A standalone HTML document: inline CSS and SVG, no external links, prints on A4."""
    template = _environment().get_template("report_file.html")
    return template.render(report=report, body=render_body(report), css=Markup(stylesheet()))


# --- CSV ------------------------------------------------------------------------------


def csv_cell(value) -> str:
    """A CSV cell; a leading = + - @ is defused so a spreadsheet shows, not runs, it."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def csv_rows(report: Report, table: str) -> Iterable[Sequence]:
    """The header, then the rows, of one of :data:`CSV_TABLES`."""
    if table == "weekly":
        yield ("class", "week_commencing", "school_days", "pupil_days_allowed",
               f"handed_in_by_{_cut(0).replace(':', '')}",
               f"handed_in_by_{_cut(1).replace(':', '')}", "handed_in",
               f"percent_by_{_cut(0).replace(':', '')}",
               f"percent_by_{_cut(1).replace(':', '')}", "percent_handed_in",
               "collected", "late_collections", "missed_collections", "kept_overnight")
        keyed = [((name, week), report.by_class_week[(name, week)])
                 for name in report.classes for week in report.weeks]
        keyed += [((ALL_CLASSES, week), report.by_week[week]) for week in report.weeks]
        for (name, week), c in keyed:
            yield (name, week.isoformat(), c.school_days, c.allowed, c.by_first, c.by_second,
                   c.handed_in, _share(c.share_by_first), _share(c.share_by_second),
                   _share(c.share_handed_in), c.collected, c.late, c.missed, c.overnight)
    elif table == "refusals":
        yield ("week_commencing", "reason_code", "reason", "refused_taps")
        for (week, code), count in sorted(report.refusals.items()):
            yield (week.isoformat(), code, sentence(refusal_words(code)), count)
    elif table == "unlocks":
        yield ("time", "what", "locker", "bay", "by", "reason", "locker_name")
        for row in report.overrides:
            yield (row.at.isoformat(timespec="seconds"), override_words(row.bay), row.locker_id,
                   "all" if row.bay is None else row.bay, row.actor, row.reason,
                   row.locker_name)
    elif table == "approvals":
        yield ("pupil", "class", "agreed_by", "agreed_at", "until", "ended_at", "ended_by")
        for row in report.approvals:
            yield (row.pupil, row.class_name, row.approved_by,
                   row.approved_at.isoformat(timespec="seconds"),
                   row.until.isoformat() if row.until else "",
                   row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "",
                   row.revoked_by or "")
    else:
        raise ValueError(f"no CSV table {table!r}: choose from {', '.join(CSV_TABLES)}")


def render_csv(report: Report, table: str = "weekly") -> str:
    """One CSV table as text (UTF-8 without BOM; add one for Excel when serving it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in csv_rows(report, table):
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue()
