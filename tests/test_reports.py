"""The report's figures against a seeded week whose numbers are known (tests/reports_seed.py),
its HTML file and CSV, ``phonelocker report`` as a real subprocess, and the bench builder."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kiosk.devtools.report_bench import build_school_year
from kiosk.registers.exceptions import add_exception
from kiosk.reports.figures import Counts, build_report
from kiosk.reports.render import render_csv, render_file
from kiosk.school.pupils import add_pupil
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Pupil
from tests.conftest import run_cli
from tests.reports_seed import (
    AFTER,
    EXPECTED,
    EXPECTED_ALL,
    EXPECTED_REFUSALS,
    EXPECTED_REFUSALS_6K,
    FRIDAY,
    MONDAY,
    SUNDAY,
    at,
    seed_week,
)

FIELDS = ("allowed", "by_first", "by_second", "handed_in", "collected", "late", "missed",
          "overnight")


def figures(counts: Counts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in FIELDS}


@pytest.fixture
def week(db):
    with db.session() as session:
        seed_week(session)
    return db


def report_for(db, config, start=MONDAY, end=SUNDAY, **kwargs):
    with db.session() as session:
        return build_report(session, config, start, end, now=AFTER, **kwargs)


def test_seeded_week_figures_per_class_and_in_total(week, config):
    report = report_for(week, config)

    assert report.whole_school
    assert report.school_days == [MONDAY + timedelta(days=n) for n in range(5)]
    assert report.weeks == [MONDAY]
    assert report.classes == ["5R", "6K"]
    for name, expected in EXPECTED.items():
        assert figures(report.by_class[name]) == expected, name
        assert figures(report.by_class_week[(name, MONDAY)]) == expected, name
    assert figures(report.total) == EXPECTED_ALL
    assert figures(report.by_week[MONDAY]) == EXPECTED_ALL
    assert round(report.total.share_by_first, 1) == 53.8  # 14 of 26
    assert round(report.by_class["6K"].share_handed_in, 1) == 61.1  # 11 of 18
    assert report.refusal_totals == EXPECTED_REFUSALS
    assert [(o.actor, o.bay, o.reason, o.at.strftime("%a %H:%M")) for o in report.overrides] == [
        ("office", None, "fire drill", "Tue 11:00"), ("mrs.p", 1, "inhaler needed", "Thu 09:30")]
    assert [(a.pupil, a.approved_by, a.approved_at.date()) for a in report.approvals] == [
        ("Grace Mensah", "Mrs Head", date(2026, 3, 2)),
        ("Isla Murphy", "Mrs Head", date(2026, 4, 1))]
    assert report.exceptions == []


def test_a_class_report_has_only_that_class_and_no_school_wide_facts(week, config):
    report = report_for(week, config, classes=["6K"])

    assert report.classes == ["6K"] and not report.whole_school
    assert figures(report.total) == EXPECTED["6K"]
    assert report.refusal_totals == EXPECTED_REFUSALS_6K  # no unknown cards, no Year 5
    assert report.overrides == []
    assert report.approvals == []


def test_the_report_lists_the_agreed_exceptions_in_force_in_the_range(week, config):
    zone = config.policy.zone
    with week.session() as session:
        pupils = {p.name: p for p in session.scalars(select(Pupil))}
        amara, grace = pupils["Amara Okafor"], pupils["Grace Mensah"]
        add_exception(session, amara, kind="medical", reason="glucose monitor",
                      agreed_by="Mrs Head", now=AFTER, zone=zone,
                      starts_on=MONDAY - timedelta(days=30))
        # over before the week began: not in this report
        add_exception(session, grace, kind="young_carer", reason="cares for her mother",
                      agreed_by="Mrs Head", now=AFTER - timedelta(days=60), zone=zone,
                      starts_on=MONDAY - timedelta(days=60), until=MONDAY - timedelta(days=1))
        session.commit()
    assert report_for(week, config).exceptions == [
        f"Amara Okafor (6K): medical, agreed by Mrs Head, "
        f"from {MONDAY - timedelta(days=30):%-d %b %Y}"]
    assert report_for(week, config, classes=["5R"]).exceptions == []


def test_a_range_of_one_day_counts_only_that_day(week, config):
    report = report_for(week, config, start=MONDAY, end=MONDAY)

    assert report.school_days == [MONDAY]
    # 6K Monday: Amara 08:30, Ben 08:50, Cara 08:35 of four allowed; Ben late, Cara overnight.
    assert figures(report.by_class["6K"]) == {
        "allowed": 4, "by_first": 2, "by_second": 3, "handed_in": 3, "collected": 1,
        "late": 1, "missed": 0, "overnight": 1}


def test_a_day_not_yet_over_has_no_overnight_phones(db, config):
    with db.session() as session:
        pupil = add_pupil(session, name="Zoe", year=6, class_name="6Z", actor="test")
        record_event(session, Kind.DEPOSIT, at=at(MONDAY, "08:30"), pupil_id=pupil.id)
        session.commit()
        evening = at(MONDAY, "18:00").replace(tzinfo=UTC)
        next_morning = at(MONDAY + timedelta(days=1), "07:00").replace(tzinfo=UTC)
        today = build_report(session, config, MONDAY, MONDAY + timedelta(days=1), now=evening)
        later = build_report(session, config, MONDAY, MONDAY + timedelta(days=1),
                             now=next_morning)

    assert today.total.overnight == 0 and today.total.handed_in == 1
    assert later.total.overnight == 1
    assert later.school_days == [MONDAY]  # Tuesday had no tap yet


def test_from_after_to_is_refused(db, config):
    with db.session() as session, pytest.raises(ValueError, match="ends before it"):
        build_report(session, config, FRIDAY, MONDAY, now=AFTER)


def weekly_rows(text: str) -> dict[str, dict[str, str]]:
    return {row["class"]: row for row in csv.DictReader(io.StringIO(text))}


def test_weekly_csv_has_the_figures(week, config):
    rows = weekly_rows(render_csv(report_for(week, config), "weekly"))

    assert set(rows) == {"5R", "6K", "All classes"}
    six = rows["6K"]
    assert six["week_commencing"] == "2026-03-30" and six["school_days"] == "5"
    assert (six["pupil_days_allowed"], six["handed_in_by_0845"], six["handed_in_by_0900"],
            six["handed_in"]) == ("18", "9", "10", "11")
    assert (six["percent_by_0845"], six["percent_by_0900"], six["percent_handed_in"]) == (
        "50.0", "55.6", "61.1")
    assert (six["late_collections"], six["missed_collections"], six["kept_overnight"]) == (
        "1", "1", "1")
    assert rows["All classes"]["pupil_days_allowed"] == "26"
    assert rows["5R"]["percent_handed_in"] == "75.0"


def test_other_csv_tables(week, config):
    report = report_for(week, config)
    refusals = list(csv.DictReader(io.StringIO(render_csv(report, "refusals"))))
    assert {r["reason_code"]: int(r["refused_taps"]) for r in refusals} == EXPECTED_REFUSALS
    assert {r["reason"] for r in refusals} >= {
        "Year 5 without agreement", "Card not recognised", "Card cancelled",
        "Too early to collect"}
    unlocks = list(csv.DictReader(io.StringIO(render_csv(report, "unlocks"))))
    assert [(u["what"], u["bay"], u["by"], u["reason"]) for u in unlocks] == [
        ("Open all", "all", "office", "fire drill"),
        ("Emergency unlock", "1", "mrs.p", "inhaler needed")]
    assert unlocks[0]["time"] == "2026-03-31T11:00:00+01:00"
    # the locker by its name for people, its id kept in "locker"
    assert [(u["locker"], u["locker_name"]) for u in unlocks] == [
        ("locker-1", "Year 6 locker")] * 2
    approvals = list(csv.DictReader(io.StringIO(render_csv(report, "approvals"))))
    assert [a["pupil"] for a in approvals] == ["Grace Mensah", "Isla Murphy"]
    with pytest.raises(ValueError, match="no CSV table"):
        render_csv(report, "nonsense")


def test_csv_defuses_formulas(db, config):
    with db.session() as session:
        record_event(session, Kind.OVERRIDE, at=at(MONDAY, "11:00"), bay=None, actor="office",
                     reason="=HYPERLINK(\"http://x\")")
        session.commit()
    unlocks = list(csv.DictReader(io.StringIO(render_csv(report_for(db, config), "unlocks"))))
    assert unlocks[0]["reason"].startswith("'=")


def test_html_file_is_standalone_with_charts_and_text_alternatives(week, config):
    html = render_file(report_for(week, config))

    assert html.startswith("<!doctype html>")
    assert "<style>" in html and "@media print" in html
    assert "<script" not in html and "<link" not in html and "<img" not in html
    # The only URL is the SVG namespace: nothing is fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    assert html.count("<svg") == 3
    assert 'role="img"' in html and "<desc" in html
    assert "Phones handed in, by week" in html
    assert "w/c 30 Mar 2026: 53.8\u00a0% by 08:45, 65.4\u00a0% at all" in html  # the <desc>
    assert "No agreed exceptions were in force in this period." in html
    assert "fire drill" in html and "inhaler needed" in html


def test_names_in_the_html_are_escaped(db, config):
    with db.session() as session:
        record_event(session, Kind.OVERRIDE, at=at(MONDAY, "11:00"), bay=None,
                     actor="<script>x</script>", reason="<b>r</b>")
        session.commit()
    html = render_file(report_for(db, config))
    assert "<script>x" not in html and "&lt;script&gt;x" in html


# --- phonelocker report, a real subprocess ---------------------------------------------


def test_report_command_writes_html_and_csv(week, config_file, tmp_path):
    html_file, csv_file = tmp_path / "report.html", tmp_path / "weekly.csv"
    result = run_cli(config_file, "report", "--from", "2026-03-30", "--to", "2026-04-05",
                     "--output", str(html_file))
    assert "5 school days" in result.stderr
    html = html_file.read_text(encoding="utf-8")
    assert html.count("<svg") == 3 and "Amara" not in html  # figures, not names

    run_cli(config_file, "report", "--from", "2026-03-30", "--to", "2026-04-05",
            "--format", "csv", "--output", str(csv_file))
    rows = weekly_rows(csv_file.read_text(encoding="utf-8"))
    assert rows["6K"]["handed_in"] == "11" and rows["5R"]["handed_in"] == "6"

    one_class = run_cli(config_file, "report", "--from", "2026-03-30", "--to", "2026-04-05",
                        "--class", "6k", "--format", "csv")
    assert set(weekly_rows(one_class.stdout)) == {"6K", "All classes"}
    refusals = run_cli(config_file, "report", "--from", "2026-03-30", "--to", "2026-04-05",
                       "--format", "csv", "--table", "refusals")
    assert "Year 5 without agreement" in refusals.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-02-30", "--to", "2026-03-01"), "--from '2026-02-30' is not a date"),
        (("--from", "2026-04-05", "--to", "2026-03-30"), "--from 2026-04-05 is after --to"),
        (("--to", "2026-03-30"), "--from is required"),
        (("--from", "2026-03-30", "--to", "2026-04-05", "--class", "9Z"), "no class called 9Z"),
        (("--from", "0001-01-01", "--to", "2026-04-05"), "outside the years a report covers"),
        (("--from", "2020-01-01", "--to", "2026-04-05"), "at most 731 days"),
    ],
)
def test_report_command_refuses_bad_input_in_one_line(week, config_file, tmp_path, args,
                                                      message):
    output = tmp_path / "out.html"
    result = run_cli(config_file, "report", *args, "--output", str(output), check=False)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not output.exists()


# --- the bench's school year -----------------------------------------------------------


def test_bench_builder_makes_a_year_the_report_reads(db, config):
    year = build_school_year(db, config, pupils=60, days=10, first_day=date(2025, 9, 1))
    with db.session() as session:
        report = build_report(session, config, year.first_day, year.last_day,
                              now=datetime(2026, 1, 1, tzinfo=UTC))
        year6 = session.scalar(select(func.count()).select_from(Pupil).where(Pupil.year == 6))

    assert year.events > 0 and len(report.school_days) == 10
    assert report.total.allowed >= year6 * 10  # every Year 6 pupil, every day, and some Y5
    assert 0 < report.total.handed_in <= report.total.allowed
    assert report.total.by_first <= report.total.by_second <= report.total.handed_in
    assert report.total.late > 0 and report.refusal_totals["unknown_card"] >= 0


@pytest.mark.slow
def test_bench_report_command_prints_timings(tmp_path, config_file):
    result = run_cli(config_file, "bench", "report", "--pupils", "40", "--days", "5",
                     "--runs", "1", "--json", timeout=120)
    figures_ = json.loads(result.stdout)
    assert figures_["pupils"] == 40 and figures_["school_days"] == 5
    assert figures_["events"] > 0 and figures_["html_bytes"] > 0
    assert figures_["html_median_s"] > 0 and figures_["csv_median_s"] > 0


def test_days_and_the_0845_line_follow_uk_time_across_the_autumn_clock_change(db, config):
    friday, monday = date(2026, 10, 23), date(2026, 10, 26)  # BST, then GMT
    with db.session() as session:
        pupil = add_pupil(session, name="Zoe", year=6, class_name="6Z", actor="test")
        for day_ in (friday, monday):
            record_event(session, Kind.DEPOSIT, at=at(day_, "08:44"), pupil_id=pupil.id)
            record_event(session, Kind.COLLECT, at=at(day_, "15:20"), pupil_id=pupil.id)
        # 00:30 on Friday in London (BST) is 23:30 UTC on Thursday: it belongs to Friday.
        record_event(session, Kind.REFUSED, at=at(friday, "00:30"), reason="unknown_card")
        session.commit()
        report = build_report(session, config, friday, monday, now=AFTER + timedelta(days=365))

    assert report.refusal_totals == {"unknown_card": 1}
    assert report.school_days == [friday, monday]
    assert report.weeks == [date(2026, 10, 19), monday]
    assert report.by_week[date(2026, 10, 19)].by_first == 1
    assert report.by_week[monday].by_first == 1  # 08:44 GMT, not 09:44 or 07:44
    assert report.by_week[monday].allowed == 1 and report.by_week[monday].collected == 1


def test_bench_report_never_overwrites_a_file(config_file, tmp_path):
    precious = tmp_path / "phonelocker.db"
    precious.write_bytes(b"someone's database")
    result = run_cli(config_file, "bench", "report", "--pupils", "10", "--days", "5",
                     "--keep", str(precious), check=False)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert precious.read_bytes() == b"someone's database"
