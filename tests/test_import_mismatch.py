"""A year that does not match the class ("Year 9" in 6K): the rule, and the CLI's summary line.

The dashboard's preview flag is tested in tests/web/test_web_import.py.
"""

from __future__ import annotations

import pytest

from kiosk.school.pupil_csv import parse_pupils_csv, year_class_mismatch

from .conftest import run_cli


@pytest.mark.parametrize(("year", "class_name", "expected"), [
    (6, "6K", None),
    (9, "6K", "Year 9, but class 6K is a Year 6 class"),
    (10, "10B", None),
    (1, "10B", "Year 1, but class 10B is a Year 10 class"),
    (0, "1A", "Reception, but class 1A is a Year 1 class"),
    (5, "Oak", None),  # a name, not a year
    (0, "RB", None),
    (6, "123", None),  # three digits are not a year
])
def test_a_class_starting_with_a_number_is_that_years(year, class_name, expected):
    assert year_class_mismatch(year, class_name) == expected


def test_the_plan_lists_each_mismatched_row_and_keeps_it():
    plan = parse_pupils_csv(b"Forename,Surname,Year,Class\nA,One,6,6K\nB,Two,Year 9,6K\n")
    assert plan.ok and [row.name for row in plan.rows] == ["A One", "B Two"]
    assert plan.mismatches == {3: "Year 9, but class 6K is a Year 6 class"}


def test_the_cli_import_reports_the_mismatch_in_its_summary(config_file, db, tmp_path):
    export = tmp_path / "pupils.csv"
    export.write_text("UPN,Forename,Surname,Year,Class\nU1,Zara,Ahmed,6,6K\n"
                      "U2,Yusuf,Ali,9,6K\n", encoding="utf-8")
    dry = run_cli(config_file, "pupils", "import", str(export), "--dry-run")
    assert "would import: 2 created" in dry.stdout
    assert "year does not match class in 1 row" in dry.stdout
    assert "row 3: Year 9, but class 6K is a Year 6 class" in dry.stdout
    done = run_cli(config_file, "pupils", "import", str(export))
    assert "imported: 2 created" in done.stdout and "row 3: Year 9" in done.stdout
    listed = run_cli(config_file, "pupils", "list").stdout
    assert "Yusuf Ali" in listed
