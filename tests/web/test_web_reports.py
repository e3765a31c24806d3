"""The Reports page and its CSV: the seeded week's figures, and who may see which class."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from kiosk.store.db import Database
from kiosk.store.models import StaffClass, StaffUser
from tests.reports_seed import AFTER, EXPECTED, seed_week
from tests.web.conftest import PASSWORD, USERS

WEEK = {"from": "2026-03-30", "to": "2026-04-05"}


@pytest.fixture
def db(tmp_path: Path) -> Database:
    """The seeded report week and the usual staff accounts, in a fresh database."""
    database = Database(f"sqlite:///{tmp_path}/reports.db")
    database.upgrade()
    password_hash = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")
    with database.session() as session:
        seed_week(session)
        for username, (role, classes) in USERS.items():
            user = StaffUser(username=username, password_hash=password_hash, role=role,
                             active=True)
            user.classes = [StaffClass(class_name=name) for name in classes]
            session.add(user)
        session.commit()
    yield database
    database.dispose()


@pytest.fixture
def app(make_app):
    return make_app(CLOCK=lambda: AFTER)


def figure(html: str, table: str, row: str, name: str) -> str:
    """The text of ``data-figure=name`` in the row ``data-class=row`` of ``data-table``."""
    section = html.split(f'data-table="{table}"', 1)[1].split("</table>", 1)[0]
    line = section.split(f'data-class="{row}"', 1)[1].split("</tr>", 1)[0]
    return re.search(rf'data-figure="{name}">([^<]*)<', line).group(1)


def test_office_sees_every_class_with_the_known_figures(as_user):
    html = as_user("office").get("/reports", query_string=WEEK).get_data(as_text=True)

    assert "whole school" in html
    for name in ("6K", "5R"):
        assert figure(html, "summary", name, "allowed") == str(EXPECTED[name]["allowed"])
        for key in ("late", "missed", "overnight"):
            assert figure(html, "summary", name, key) == str(EXPECTED[name][key])
    assert figure(html, "summary", "6K", "by_first") == "50.0\u00a0%"
    assert figure(html, "summary", "6K", "by_second") == "55.6\u00a0%"
    assert figure(html, "summary", "6K", "handed_in") == "61.1\u00a0%"
    assert figure(html, "summary", "5R", "handed_in") == "75.0\u00a0%"
    assert figure(html, "summary", "All classes", "by_first") == "53.8\u00a0%"
    assert html.count("<svg") == 3
    assert "fire drill" in html and "Isla Murphy" in html
    assert 'href="/reports/report.css"' in html


def test_teacher_sees_only_their_class(as_user):
    client = as_user("teacher6k")
    html = client.get("/reports", query_string=WEEK).get_data(as_text=True)

    assert 'data-class="6K"' in html and 'data-class="5R"' not in html
    assert figure(html, "summary", "6K", "handed_in") == "61.1\u00a0%"
    assert "fire drill" not in html  # school-wide unlocks are for the office
    assert "Year 5 without agreement" not in html
    assert client.get("/reports", query_string={**WEEK, "class": "5R"}).status_code == 403
    rows = client.get("/reports.csv", query_string={**WEEK, "table": "weekly"}).get_data(
        as_text=True)
    assert {row["class"] for row in csv.DictReader(io.StringIO(rows.lstrip("\ufeff")))} == {
        "6K", "All classes"}
    assert client.get("/reports.csv", query_string={**WEEK, "class": "5r"}).status_code == 403


def test_office_can_choose_one_class(as_user):
    html = as_user("office").get("/reports", query_string={**WEEK, "class": "5r"}).get_data(
        as_text=True)
    assert 'data-class="5R"' in html and 'data-class="6K"' not in html
    assert figure(html, "summary", "5R", "allowed") == "8"


def test_csv_download(as_user):
    response = as_user("admin").get("/reports.csv", query_string={**WEEK, "table": "refusals"})

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert {row["reason"] for row in rows} >= {"Card not recognised", "Card cancelled"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-04-05", "to": "2026-03-30"}, "ends before it, on 2026-03-30"),
        ({"from": "30/03/2026", "to": "2026-04-05"}, "is not a date YYYY-MM-DD"),
        ({**WEEK, "class": "9Z"}, "no class called 9Z in the school"),
        ({**WEEK, "table": "nope"}, "choose from weekly, refusals, unlocks, approvals"),
        ({"from": "0001-01-01", "to": "2026-04-05"}, "outside the years a report covers"),
        ({"from": "2020-01-01", "to": "2026-04-05"}, "at most 731 days"),
    ],
)
def test_bad_requests_are_400_with_a_message(as_user, query, message):
    client = as_user("office")
    path = "/reports.csv" if "table" in query else "/reports"
    response = client.get(path, query_string=query)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_default_range_is_the_last_four_weeks_by_the_apps_clock(as_user):
    html = as_user("office").get("/reports").get_data(as_text=True)
    # AFTER is Friday 10 April 2026: 28 days back is Saturday 14 March.
    assert 'name="from" value="2026-03-14"' in html and 'name="to" value="2026-04-10"' in html
    assert "This school year" in html and "from=2025-09-01" in html


def test_reports_need_a_login(client):
    assert client.get("/reports").status_code == 302
    assert client.get("/reports.csv").status_code == 302


def test_page_has_no_inline_style_or_script(as_user):
    response = as_user("office").get("/reports", query_string=WEEK)
    html = response.get_data(as_text=True)
    assert "<style" not in html and " style=" not in html and "<script>" not in html
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    css = as_user("office").get("/reports/report.css")
    assert css.mimetype == "text/css" and "@media print" in css.get_data(as_text=True)
