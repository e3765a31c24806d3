"""The pupil CSV importer: parsing real-world MIS exports, and applying them all or nothing."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.errors import ActionError
from kiosk.school.importer import apply_import
from kiosk.school.pupil_csv import ImportPlan, RowError, format_errors, parse_pupils_csv
from kiosk.school.pupils import add_pupil, update_pupil
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Card, Event, Pupil

DATA = Path(__file__).parent / "data" / "csv"


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    database.upgrade()
    yield database
    database.dispose()


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def import_file(db: Database, data: bytes, *, dry_run: bool = False):
    plan = parse_pupils_csv(data)
    assert plan.ok, format_errors(plan)
    with db.session() as session:
        result = apply_import(session, plan, actor="office", dry_run=dry_run)
        session.commit()
    return result


def pupils_by_name(session: Session) -> dict[str, Pupil]:
    return {p.name: p for p in session.scalars(select(Pupil))}


def errors_of(plan: ImportPlan) -> list[tuple[int | None, str | None, str]]:
    return [(e.row, e.column, e.problem) for e in plan.errors]


# ------------------------------------------------------------------------- parsing


def test_sims_export_with_bom_crlf_quotes_and_accents():
    data = fixture("sims_export.csv")
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # the fixture is what it claims

    plan = parse_pupils_csv(data)

    assert plan.ok and plan.warnings == []
    rows = [(r.row, r.name, r.year, r.class_name, r.external_id, r.card_uid) for r in plan.rows]
    assert rows == [
        # Amelia's quoted note spans two lines, yet the next record is still row 3.
        (2, "Amelia Jones", 6, "6J", "A123456789012", "04A1B2C3D4E5F6"),
        (3, "Paddy O'Brien, Jr", 6, "6J", "B123456789012", None),  # preferred forename wins
        (4, "Łukasz Kowalski", 5, "5K", "C123456789012", None),
        (5, "Siobhán Ní Bhriain", 0, "RB", "D123456789012", None),  # "R" is Reception
        (6, "Zoë Müller", 6, "6J", "E123456789012", "A1B2C3D4"),
    ]


def test_arbor_export_with_year_group_words_and_admission_numbers():
    plan = parse_pupils_csv(fixture("arbor_export.csv"))

    assert plan.ok
    assert [(r.name, r.year, r.class_name, r.external_id) for r in plan.rows] == [
        ("Olly Smith", 6, "6 Oak", "001234"),
        ("Ava Patel", 0, "R Willow", "001235"),
        ("Noah Williams", 1, "1 Ash", "001236"),
    ]


def test_cp1252_file_is_read_with_a_warning():
    plan = parse_pupils_csv(fixture("cp1252_export.csv"))

    assert plan.ok
    assert [r.name for r in plan.rows] == ["Zoë Brontë", "Siobhán Ó Súilleabháin"]
    assert any("Windows-1252" in w for w in plan.warnings)
    assert any("no UPN" in w for w in plan.warnings)  # matched on name + class instead


def test_single_name_column_is_enough():
    plan = parse_pupils_csv(csv_bytes("Name,Year,Class", "Amy Smith,6,6A"))

    assert plan.ok
    assert plan.rows[0].name == "Amy Smith"


def test_utf16_tab_separated_excel_unicode_text():
    text = "Forename\tSurname\tYear\tForm\r\nZoë\tNowak\tYear 4\t4N\r\n"
    plan = parse_pupils_csv(b"\xff\xfe" + text.encode("utf-16-le"))

    assert plan.ok
    assert (plan.rows[0].name, plan.rows[0].year, plan.rows[0].class_name) == ("Zoë Nowak", 4, "4N")


@pytest.mark.parametrize(
    ("text", "year"),
    [("6", 6), ("Year 6", 6), ("Y6", 6), ("6 ", 6), ("yr6", 6), ("Year R", 0), ("R", 0),
     ("Reception", 0), ("YR", 0), ("13", 13)],
)
def test_year_group_spellings(text: str, year: int):
    plan = parse_pupils_csv(csv_bytes("Name,Year Group,Class", f'Amy Smith,"{text}",6A'))

    assert plan.ok, format_errors(plan)
    assert plan.rows[0].year == year


@pytest.mark.parametrize("text", ["Year Seven", "N2", "14", "6B", "-1"])
def test_bad_year_groups_are_row_errors(text: str):
    plan = parse_pupils_csv(csv_bytes("Forename,Surname,Year Group,Class", f"Amy,Smith,{text},6A"))

    assert not plan.ok and plan.rows == []
    (error,) = plan.errors
    assert (error.row, error.column) == (2, "Year Group")
    assert repr(text) in error.problem


def test_row_errors_name_row_column_and_problem():
    plan = parse_pupils_csv(fixture("bad_rows.csv"))

    assert not plan.ok
    assert [r.row for r in plan.rows] == [2]
    errors = errors_of(plan)
    assert errors[:2] == [
        (3, "Year", "'Year Seven' is not a year group"),
        (4, "UPN", "'A100000000001' is also in row 2"),
    ]
    assert errors[2][:2] == (5, "Card UID") and "'not-a-card' is not a card UID" in errors[2][2]
    assert errors[3:] == [
        (6, "Card UID", "'04A1B2C3' is also in row 2"),  # same card, written differently
        (7, "Class", "is empty"),
    ]
    assert str(plan.errors[0]) == "row 3, Year: 'Year Seven' is not a year group"


def test_same_name_in_same_class_without_upn_is_ambiguous():
    plan = parse_pupils_csv(csv_bytes("Name,Year,Class", "Amy Smith,6,6A", "Amy Smith,6,6A"))

    assert errors_of(plan) == [
        (3, "Name", "'Amy Smith in 6A' is also in row 2: add a UPN column to tell them apart")
    ]


def test_missing_columns_says_what_is_missing_and_what_was_found():
    plan = parse_pupils_csv(fixture("missing_column.csv"))

    (error,) = plan.errors
    assert error.row is None and error.column is None
    assert "missing columns: Year (or Year Group); Reg Group" in error.problem
    assert "Columns found: 'Forename', 'Surname', 'DOB', 'Gender'" in error.problem


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b" \r\n\r\n", "the file is empty"),
        (b"\xef\xbb\xbf", "the file is empty"),
        (b"Forename,Surname,Year,Class\r\n\r\n", "the file has a header row but no pupils"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (bytes(range(256)) * 4, "binary data"),
        (b"\x81\x8d\x8f\x90\x9d", "binary data"),  # not UTF-8, not cp1252 either
    ],
)
def test_unusable_files_give_a_clear_error(data: bytes, message: str):
    plan = parse_pupils_csv(data)

    assert not plan.ok and plan.rows == []
    assert message in format_errors(plan)


def test_random_junk_never_crashes():
    rng = random.Random(1234)
    for _ in range(300):
        junk = bytes(rng.choice(b'abc,;\t"\r\n\x00\xff\xc3\xa9YearClassName ') for _ in range(80))
        plan = parse_pupils_csv(junk)
        assert isinstance(plan, ImportPlan)
        assert plan.ok == (plan.errors == [])


def test_format_errors():
    plan = ImportPlan(errors=[RowError(7, "Year", "'Year Seven' is not a year group")])

    assert format_errors(plan).splitlines() == [
        "1 problem in the file; nothing was imported:",
        "  row 7, Year: 'Year Seven' is not a year group",
    ]
    assert format_errors(ImportPlan()) == ""


# ------------------------------------------------------------------------- applying


def test_import_creates_pupils_cards_and_events(db: Database):
    result = import_file(db, fixture("sims_export.csv"))

    assert (result.created, result.updated, result.unchanged) == (5, 0, 0)
    assert [(o.row, o.action) for o in result.rows] == [(n, "create") for n in range(2, 7)]
    with db.session() as session:
        pupils = pupils_by_name(session)
        assert set(pupils) == {
            "Amelia Jones", "Paddy O'Brien, Jr", "Łukasz Kowalski", "Siobhán Ní Bhriain",
            "Zoë Müller",
        }
        amelia = pupils["Amelia Jones"]
        assert (amelia.year, amelia.class_name, amelia.external_id) == (6, "6J", "A123456789012")
        assert [c.uid for c in amelia.cards if c.active] == ["04A1B2C3D4E5F6"]
        assert next(o.pupil_id for o in result.rows) == amelia.id

        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
        assert kinds.count(Kind.PUPIL_ADDED) == 5 and kinds.count(Kind.ENROL) == 2
        (event,) = session.scalars(select(Event).where(Event.kind == Kind.IMPORT))
        assert (event.actor, event.reason) == ("office", "5 created, 0 updated, 0 unchanged")


def test_reimport_of_same_file_changes_nothing(db: Database):
    import_file(db, fixture("sims_export.csv"))
    events_before = count(db, Event)

    result = import_file(db, fixture("sims_export.csv"))

    assert (result.created, result.updated, result.unchanged) == (0, 0, 5)
    assert count(db, Pupil) == 5 and count(db, Card) == 2
    assert count(db, Event) == events_before + 1  # only the IMPORT event itself


def test_reimport_updates_changed_pupils_instead_of_duplicating(db: Database):
    import_file(db, fixture("arbor_export.csv"))
    moved = fixture("arbor_export.csv").replace(b"Year 1,1 Ash", b"Year 2,2 Elm")

    result = import_file(db, moved)

    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    (update,) = [o for o in result.rows if o.action == "update"]
    assert (update.row, update.name, update.changes) == (4, "Noah Williams", ["year", "class"])
    assert count(db, Pupil) == 3
    with db.session() as session:
        noah = pupils_by_name(session)["Noah Williams"]
        assert (noah.year, noah.class_name) == (2, "2 Elm")
        updated = session.scalars(select(Event).where(Event.kind == Kind.PUPIL_UPDATED)).one()
        assert (updated.pupil_id, updated.reason) == (noah.id, "year, class")


def test_without_upn_pupils_are_matched_on_name_and_class(db: Database):
    first = csv_bytes("Name,Year,Class", "Amy Smith,5,5A", "Ben Jones,5,5A")
    import_file(db, first)

    result = import_file(db, csv_bytes("Name,Year,Class", "Amy Smith,6,5A", "Ben Jones,5,5B"))

    # Amy's year changed in place; Ben's class changed, so he cannot be recognised.
    assert [(o.name, o.action, o.changes) for o in result.rows] == [
        ("Amy Smith", "update", ["year"]),
        ("Ben Jones", "create", []),
    ]
    assert count(db, Pupil) == 3


def test_decomposed_accents_match_on_reimport(db: Database):
    import_file(db, csv_bytes("Name,Year,Class", "Zoë Brontë,6,6B"))
    decomposed = unicodedata.normalize("NFD", "Zoë Brontë,6,6B")

    result = import_file(db, csv_bytes("Name,Year,Class", decomposed))

    assert result.unchanged == 1 and count(db, Pupil) == 1


def test_hand_added_pupil_is_matched_by_name_and_given_the_upn(db: Database):
    with db.session() as session:
        add_pupil(session, name="Amy Smith", year=6, class_name="6A", actor="office")
        session.commit()

    result = import_file(db, csv_bytes("UPN,Name,Year,Class", "A100000000001,Amy Smith,6,6A"))

    assert [(o.action, o.changes) for o in result.rows] == [("update", ["external_id"])]
    with db.session() as session:
        (amy,) = session.scalars(select(Pupil))
        assert amy.external_id == "A100000000001"


def test_pupil_who_left_and_is_back_in_the_file_is_reactivated(db: Database):
    import_file(db, fixture("arbor_export.csv"))
    with db.session() as session:
        update_pupil(session, pupils_by_name(session)["Ava Patel"], actor="office", active=False)
        session.commit()

    result = import_file(db, fixture("arbor_export.csv"))

    assert [(o.name, o.changes) for o in result.rows if o.action == "update"] == [
        ("Ava Patel", ["active"])
    ]
    with db.session() as session:
        assert pupils_by_name(session)["Ava Patel"].active


def test_new_card_in_file_replaces_the_old_one(db: Database):
    import_file(db, csv_bytes("UPN,Name,Year,Class,Card", "A1,Amy Smith,6,6A,04A1B2C3"))

    result = import_file(db, csv_bytes("UPN,Name,Year,Class,Card", "A1,Amy Smith,6,6A,11223344"))

    assert result.rows[0].changes == ["card"]
    with db.session() as session:
        cards = {c.uid: c.active for c in session.scalars(select(Card))}
        assert cards == {"04A1B2C3": False, "11223344": True}


def test_cards_can_swap_between_pupils_in_the_file(db: Database):
    header = "UPN,Name,Year,Class,Card"
    import_file(db, csv_bytes(header, "A1,Amy Smith,6,6A,AAAAAAAA", "B1,Ben Jones,6,6A,BBBBBBBB"))

    import_file(db, csv_bytes(header, "A1,Amy Smith,6,6A,BBBBBBBB", "B1,Ben Jones,6,6A,AAAAAAAA"))

    with db.session() as session:
        owners = {c.uid: c.pupil.name for c in session.scalars(select(Card).where(Card.active))}
        assert owners == {"AAAAAAAA": "Ben Jones", "BBBBBBBB": "Amy Smith"}


def test_blank_card_cell_leaves_the_existing_card_alone(db: Database):
    import_file(db, csv_bytes("UPN,Name,Year,Class,Card", "A1,Amy Smith,6,6A,04A1B2C3"))

    result = import_file(db, csv_bytes("UPN,Name,Year,Class,Card", "A1,Amy Smith,6,6A,"))

    assert result.unchanged == 1
    with db.session() as session:
        assert session.scalars(select(Card.uid).where(Card.active)).all() == ["04A1B2C3"]


def test_dry_run_writes_nothing_and_predicts_the_real_run(db: Database):
    import_file(db, fixture("arbor_export.csv"))
    before = (count(db, Pupil), count(db, Card), count(db, Event))
    changed = fixture("arbor_export.csv").replace(b"6 Oak", b"6 Elm")
    changed += b"Mia,Khan,,Year 3,3 Fir,001237\n"

    preview = import_file(db, changed, dry_run=True)

    assert (count(db, Pupil), count(db, Card), count(db, Event)) == before
    assert preview.dry_run and preview.summary == "1 created, 1 updated, 2 unchanged"
    real = import_file(db, changed)
    assert [(o.row, o.action, o.changes) for o in preview.rows] == [
        (o.row, o.action, o.changes) for o in real.rows
    ]
    assert count(db, Pupil) == 4


def test_file_with_one_bad_row_writes_nothing(db: Database):
    data = fixture("arbor_export.csv") + b"Mia,Khan,,Year Seven,3 Fir,001237\n"
    plan = parse_pupils_csv(data)
    assert len(plan.rows) == 3 and not plan.ok

    with db.session() as session, pytest.raises(ActionError, match="row 5, Year Group"):
        apply_import(session, plan, actor="office")

    assert count(db, Pupil) == 0 and count(db, Event) == 0


def test_card_owned_by_pupil_not_in_file_is_refused_before_any_write(db: Database):
    with db.session() as session:
        add_pupil(session, name="Zara Ali", year=6, class_name="6B", actor="office",
                  card_uid="04A1B2C3")
        session.commit()
    before = (count(db, Pupil), count(db, Card), count(db, Event))
    plan = parse_pupils_csv(
        csv_bytes("Name,Year,Class,Card UID", "Amy Smith,6,6A,", "Ben Jones,6,6A,04:A1:B2:C3")
    )

    with db.session() as session:
        with pytest.raises(ActionError, match=r"row 3: card 04A1B2C3 already belongs to Zara Ali"):
            apply_import(session, plan, actor="office")
        # Nothing was even flushed: committing anyway must leave the database as it was.
        session.commit()

    assert (count(db, Pupil), count(db, Card), count(db, Event)) == before


def test_card_of_pupil_in_file_who_keeps_no_other_card_is_refused(db: Database):
    import_file(db, csv_bytes("UPN,Name,Year,Class,Card", "A1,Amy Smith,6,6A,04A1B2C3"))
    plan = parse_pupils_csv(
        csv_bytes("UPN,Name,Year,Class,Card", "A1,Amy Smith,6,6A,", "B1,Ben Jones,6,6A,04A1B2C3")
    )

    with db.session() as session, pytest.raises(ActionError, match=r"belongs to Amy Smith.*row 2"):
        apply_import(session, plan, actor="office")

    assert count(db, Pupil) == 1


def test_bulk_write_records_the_events_of_the_row_by_row_actions_in_order(db: Database):
    """The import writes in bulk, but its events are exactly those kiosk.school.pupils records."""
    header = "UPN,Name,Year,Class,Card"
    import_file(db, csv_bytes(header, "A1,Amy Smith,6,6A,AAAAAAAA", "B1,Ben Jones,6,6A,BBBBBBBB"))
    with db.session() as session:
        add_pupil(session, name="Cat Lee", year=6, class_name="6B", actor="office")
        session.commit()
        first_new = session.scalar(select(func.max(Event.id))) + 1

    import_file(db, csv_bytes(
        header, "A1,Amy Smith,6,6C,BBBBBBBB", "B1,Ben Jones,6,6A,AAAAAAAA", "C1,Cat Lee,6,6B,",
        "D1,Dan Wu,6,6D,DDDDDDDD",
    ))

    with db.session() as session:
        ids = {p.name.split()[0]: p.id for p in session.scalars(select(Pupil))}
        events = [(e.kind, e.pupil_id, e.card_uid, e.reason, e.actor) for e in session.scalars(
            select(Event).where(Event.id >= first_new).order_by(Event.id))]
        cards = {c.uid: c.pupil_id for c in session.scalars(select(Card).where(Card.active))}
        cat = session.get(Pupil, ids["Cat"])
    moved = "moved to another pupil by import"
    assert events == [
        ("card_revoked", ids["Ben"], "BBBBBBBB", moved, "office"),
        ("card_revoked", ids["Amy"], "AAAAAAAA", moved, "office"),
        ("pupil_updated", ids["Amy"], None, "class", "office"),
        ("enrol", ids["Amy"], "BBBBBBBB", None, "office"),
        ("enrol", ids["Ben"], "AAAAAAAA", None, "office"),
        ("pupil_updated", ids["Cat"], None, "external_id", "office"),
        ("pupil_added", ids["Dan"], None, None, "office"),
        ("enrol", ids["Dan"], "DDDDDDDD", None, "office"),
        ("import", None, None, "1 created, 3 updated, 0 unchanged", "office"),
    ]
    assert cards == {"AAAAAAAA": ids["Ben"], "BBBBBBBB": ids["Amy"], "DDDDDDDD": ids["Dan"]}
    assert cat.external_id == "C1" and cat.class_name == "6B" and cat.active
