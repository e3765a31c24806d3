"""CSV import through the dashboard: upload, preview with row errors, confirm.

The work is kiosk.school.importer's.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy import select

from kiosk.store.events import Kind
from kiosk.store.models import Event, Pupil

DATA = Path(__file__).parent.parent / "data" / "csv"
GOOD = b"UPN,Forename,Surname,Year,Class\nA1,Zara,Ahmed,6,6K\nA2,Yusuf,Ali,5,5R\n"


def upload(client, data: bytes, name: str = "pupils.csv"):
    return client.post("/pupils/import", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def pupil_names(db) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Pupil.name)))


def test_preview_shows_row_errors_and_imports_nothing(as_user, db, tmp_path):
    client = as_user("office")
    before = pupil_names(db)
    page = upload(client, (DATA / "bad_rows.csv").read_bytes()).get_data(as_text=True)
    assert "problems in the file" in page
    assert "Year Seven" in page  # row 3: not a year group
    assert "is also in row 2" in page  # row 4: the same UPN again
    assert "not a card UID" in page  # row 5
    assert "Confirm import" not in page
    assert pupil_names(db) == before
    assert not list((tmp_path / "imports").glob("*"))  # nothing kept for a bad file


def test_missing_columns_are_explained(as_user):
    page = upload(as_user("office"), (DATA / "missing_column.csv").read_bytes())
    text = page.get_data(as_text=True)
    assert "missing columns" in text and "Reg Group" in text


def test_preview_then_confirm(as_user, db, tmp_path):
    client = as_user("office")
    page = upload(client, GOOD).get_data(as_text=True)
    assert "2 created, 0 updated, 0 unchanged" in page
    assert "Zara Ahmed" in page and "Confirm import" in page
    assert pupil_names(db).isdisjoint({"Zara Ahmed", "Yusuf Ali"})  # not yet
    spooled = list((tmp_path / "imports").glob("import-*.csv"))
    assert len(spooled) == 1 and spooled[0].read_bytes() == GOOD
    token = page.split('name="token" value="')[1].split('"')[0]

    response = client.post("/pupils/import/confirm", data={"token": token},
                           follow_redirects=True)
    assert "Imported: 2 created, 0 updated, 0 unchanged" in response.get_data(as_text=True)
    assert {"Zara Ahmed", "Yusuf Ali"} <= pupil_names(db)
    assert not spooled[0].exists()
    with db.session() as session:
        event = session.scalars(select(Event).where(Event.kind == Kind.IMPORT)).one()
    assert event.actor == "office" and "2 created" in event.reason
    # The same token cannot import twice.
    again = client.post("/pupils/import/confirm", data={"token": token}, follow_redirects=True)
    assert "preview has expired" in again.get_data(as_text=True)


def test_a_token_only_works_in_the_session_that_previewed(as_user, make_app, db):
    client = as_user("office")
    page = upload(client, GOOD).get_data(as_text=True)
    token = page.split('name="token" value="')[1].split('"')[0]
    other = client.application.test_client()
    other.post("/login", data={"username": "admin", "password": "correct horse battery staple"})
    response = other.post("/pupils/import/confirm", data={"token": token}, follow_redirects=True)
    assert "preview has expired" in response.get_data(as_text=True)
    assert "Zara Ahmed" not in pupil_names(db)


def test_conflicts_found_by_the_dry_run_are_shown(as_user):
    client = as_user("office")
    # The seeded Amara has card 04A1B2C3D4E5F6; giving it to someone else is refused.
    data = b"Name,Year,Class,Card UID\nNew Person,6,6K,04A1B2C3D4E5F6\n"
    page = upload(client, data).get_data(as_text=True)
    assert "already belongs to Amara Okafor" in page
    assert "Confirm import" not in page


def test_no_file_and_excel_files(as_user):
    client = as_user("office")
    response = client.post("/pupils/import", data={}, follow_redirects=True)
    assert "Choose a CSV file first" in response.get_data(as_text=True)
    page = upload(client, b"PK\x03\x04 not really a workbook", "pupils.xlsx")
    assert "Excel workbook" in page.get_data(as_text=True)


MISMATCH = (b"UPN,Forename,Surname,Year,Class,Card UID\n"
            b"M1,Zara,Ahmed,6,6K,04AB000000C001\n"
            b"M2,Yusuf,Ali,9,6K,\n"
            b"M3,Noor,Hassan,5,Oak,\n")


def test_the_preview_shows_year_class_and_card_and_flags_a_mismatch(as_user, db):
    client = as_user("office")
    page = upload(client, MISMATCH).get_data(as_text=True)
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'<tr class="[^"]*" data-row="(\d+)">(.*?)</tr>', page, re.S)}
    assert set(rows) == {"2", "3", "4"}
    assert "Year 6" in rows["2"] and ">6K<" in rows["2"] and "04AB000000C001" in rows["2"]
    assert "year does not match class" not in rows["2"]
    assert "Year 9" in rows["3"] and "Year 9, but class 6K is a Year 6 class" in rows["3"]
    assert "row-mismatch" in page.split('data-row="3"')[0].rsplit("<tr", 1)[1]
    assert "year does not match class" not in rows["4"]  # "Oak" says nothing about the year
    assert "1 row where the year does not match the class" in page
    assert 'name="mismatches_checked" value="1" required' in page


def test_a_mismatch_must_be_ticked_past_before_importing(as_user, db, tmp_path):
    client = as_user("office")
    page = upload(client, MISMATCH).get_data(as_text=True)
    token = page.split('name="token" value="')[1].split('"')[0]
    refused = client.post("/pupils/import/confirm", data={"token": token})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "tick the box" in text
    assert "Year 9, but class 6K is a Year 6 class" in text and f'value="{token}"' in text
    assert pupil_names(db).isdisjoint({"Zara Ahmed", "Yusuf Ali"})
    done = client.post("/pupils/import/confirm", data={"token": token, "mismatches_checked": "1"},
                       follow_redirects=True)
    assert "Imported: 3 created" in done.get_data(as_text=True)
    assert {"Zara Ahmed", "Yusuf Ali", "Noor Hassan"} <= pupil_names(db)


def test_a_file_without_mismatches_needs_no_tick(as_user):
    page = upload(as_user("office"), GOOD).get_data(as_text=True)
    assert "mismatches_checked" not in page and "does not match" not in page
