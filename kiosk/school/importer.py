"""Import pupils from a school management system (MIS) CSV export.

Two steps, so the dashboard can show a preview before anything is written:

* :func:`parse_pupils_csv` reads and checks the file without touching the
  database, returning an :class:`ImportPlan` of good rows and row errors.
* :func:`apply_import` matches the rows to existing pupils and creates or
  updates them, recording the events :mod:`kiosk.school.pupils` would (so every
  change is an event). It is all or nothing: every check is made before the
  first write, and the write itself is a few bulk statements in one short
  transaction (the kiosk's taps wait for it, see :mod:`kiosk.store.db`).

Exports from SIMS, Arbor and similar are accepted: headers are matched
case-insensitively, in UTF-8 (with or without BOM), UTF-16 or Windows cp1252.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import Boolean, DateTime, Row, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from kiosk.errors import ActionError
from kiosk.school.pupils import check_year, normalise_uid
from kiosk.store.db import begin_write, fingerprint
from kiosk.store.events import INSERT_EVENT_TYPES, INSERT_EVENTS_SQL, Kind, event_values
from kiosk.store.models import Card, Pupil
from kiosk.store.prepared import prepare_rows, run_many
from kiosk.timeutil import utcnow

# Accepted header names (normalised: lower case, single spaces), in order of preference.
COLUMNS: dict[str, tuple[str, ...]] = {
    "forename": ("forename", "legal forename", "first name", "legal first name", "given name"),
    "preferred_forename": ("preferred forename", "preferred first name"),
    "surname": ("surname", "legal surname", "last name", "legal last name", "family name"),
    "preferred_surname": ("preferred surname", "preferred last name"),
    "name": ("name", "full name", "pupil name", "pupil", "student name"),
    "year": ("year", "year group", "nc year", "national curriculum year"),
    "class": ("reg group", "registration group", "class", "form", "reg form", "registration form"),
    "external_id": ("upn", "admission number", "adno", "adm no", "admission no"),
    "card": ("card uid", "card", "uid"),
}
REQUIRED_HINT = {
    "surname": "Surname (or Legal Surname)",
    "forename": "Forename (or Preferred Forename)",
    "year": "Year (or Year Group)",
    "class": "Reg Group (or Class, Form, Registration Group)",
}
YEAR_PATTERN = re.compile(r"^(?:y(?:ea)?r?\.?\s*)?(\d{1,2}|r|rec|reception)$", re.IGNORECASE)
MAX_LENGTH = {"name": 200, "class": 64, "external_id": 64}


@dataclass
class PupilRow:
    """One good pupil row; ``row`` is its number in the file, the header being row 1."""

    row: int
    name: str
    year: int
    class_name: str
    external_id: str | None = None
    card_uid: str | None = None


@dataclass
class RowError:
    """A problem in the file: ``row`` and ``column`` are None for the file as a whole."""

    row: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.row and f"row {self.row}", self.column) if p)
        return f"{where}: {self.problem}" if where else self.problem


@dataclass
class ImportPlan:
    """What a CSV file says: the rows that can be imported and everything wrong with it."""

    rows: list[PupilRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class RowOutcome:
    """What the import does (or, in a dry run, would do) with one row of the file."""

    row: int
    name: str
    action: str  # "create" | "update" | "unchanged"
    changes: list[str] = field(default_factory=list)
    pupil_id: int | None = None


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    rows: list[RowOutcome]
    dry_run: bool

    @property
    def summary(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


# ---------------------------------------------------------------------------- parsing


def parse_pupils_csv(data: bytes) -> ImportPlan:
    """Read a pupil CSV export and check every row; never raises, never touches the database.

    Problems are returned in ``plan.errors`` (file-level ones with ``row=None``),
    notes such as a guessed encoding in ``plan.warnings``.
    """
    plan = ImportPlan()
    text = _decode(data, plan)
    if text is None:
        return plan
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    except csv.Error as error:
        plan.errors.append(RowError(None, None, f"this is not a readable CSV file ({error})"))
        return plan

    cells = [[_clean(cell) for cell in record] for record in records]
    header_index = next((i for i, record in enumerate(cells) if any(record)), None)
    if header_index is None:
        plan.errors.append(RowError(None, None, "the file is empty"))
        return plan
    header = cells[header_index]
    columns = _find_columns(header, plan)
    if columns is None:
        return plan
    if "external_id" not in columns:
        plan.warnings.append(
            "no UPN or Admission Number column: pupils are matched on name and class, "
            "so a pupil who has changed class will be added again"
        )

    seen: dict[tuple[str, str], int] = {}
    for index in range(header_index + 1, len(cells)):
        record = cells[index]
        if not any(record):
            continue
        row = _parse_row(index + 1, record, columns, header, plan.errors)
        if row is None:
            continue
        duplicate = _duplicate(row, seen)
        if duplicate:
            key, problem = duplicate
            plan.errors.append(RowError(row.row, _label(header, columns, key), problem))
        else:
            plan.rows.append(row)

    if not plan.rows and not plan.errors:
        plan.errors.append(RowError(None, None, "the file has a header row but no pupils"))
    return plan


def _duplicate(row: PupilRow, seen: dict[tuple[str, str], int]) -> tuple[str, str] | None:
    """``(column key, problem)`` if ``row`` repeats a UPN, a card, or an unidentified name."""
    checks = [("external_id", row.external_id), ("card", row.card_uid)]
    if not row.external_id:
        checks.append(("name", f"{row.name} in {row.class_name}"))
    for key, value in checks:
        if value is None:
            continue
        first = seen.setdefault((key, value), row.row)
        if first != row.row:
            hint = ": add a UPN column to tell them apart" if key == "name" else ""
            return key, f"{value!r} is also in row {first}{hint}"
    return None


def _decode(data: bytes, plan: ImportPlan) -> str | None:
    """The file's text, or None after adding an error if it is not text at all."""
    if not data.strip():
        plan.errors.append(RowError(None, None, "the file is empty"))
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode Text" export
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        plan.errors.append(RowError(
            None, None, "this is an Excel workbook, not a CSV file: "
            "open it in Excel and use Save As > CSV UTF-8",
        ))
        return None
    elif b"\x00" not in data:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        try:
            text = data.removeprefix(codecs.BOM_UTF8).decode("cp1252")
        except UnicodeDecodeError:
            pass
        else:
            plan.warnings.append(
                "the file is not UTF-8; it was read as Windows-1252 (Excel's default). "
                "Check that accented names look right"
            )
            return text
    plan.errors.append(RowError(
        None, None, "this does not look like a CSV file (it contains binary data): "
        "export the pupil list from the MIS as CSV",
    ))
    return None


def _delimiter(text: str) -> str:
    first_line = text.lstrip().partition("\n")[0]
    return max((",", "\t", ";"), key=first_line.count)


def _clean(cell: str) -> str:
    # NFC so "Zoë" typed on a Mac matches "Zoë" exported from Windows on re-import.
    return " ".join(unicodedata.normalize("NFC", cell).split())


def _normalise_header(text: str) -> str:
    return " ".join(re.sub(r"[._:#]", " ", text.replace("\ufeff", "")).lower().split())


def _find_columns(header: list[str], plan: ImportPlan) -> dict[str, int] | None:
    """Map each known field to its column index; None after adding an error if any is missing."""
    names = [_normalise_header(cell) for cell in header]
    columns: dict[str, int] = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in names:
                columns[key] = names.index(alias)
                break
    required = ["year", "class"]
    if not _single_name_column(columns):
        required = ["forename", "surname", *required]
    if "forename" not in columns and "preferred_forename" in columns:
        required.remove("forename")
    missing = [REQUIRED_HINT[key] for key in required if key not in columns]
    if missing:
        found = ", ".join(repr(cell[:40]) for cell in header[:20] if cell) or "none"
        plan.errors.append(RowError(
            None, None, f"missing columns: {'; '.join(missing)}. Columns found: {found}",
        ))
        return None
    return columns


def _single_name_column(columns: dict[str, int]) -> bool:
    return "name" in columns and not {"forename", "preferred_forename", "surname"} & columns.keys()


def _label(header: list[str], columns: dict[str, int], key: str) -> str:
    """The column's heading as the school wrote it, for error messages."""
    # Only "name" can be absent: it is then made from the forename and surname columns.
    return header[columns[key]] if key in columns else "Name"


def _parse_row(
    number: int, record: list[str], columns: dict[str, int], header: list[str],
    errors: list[RowError],
) -> PupilRow | None:
    """A checked row, or None after adding its errors to ``errors``."""

    def value(key: str) -> str:
        index = columns.get(key)
        return record[index] if index is not None and index < len(record) else ""

    def error(key: str, problem: str) -> None:
        errors.append(RowError(number, _label(header, columns, key), problem))

    before = len(errors)
    if _single_name_column(columns):
        name = value("name")
        if not name:
            error("name", "is empty")
    else:
        forename = value("preferred_forename") or value("forename")
        surname = value("preferred_surname") or value("surname")
        if not forename:
            error("forename" if "forename" in columns else "preferred_forename", "is empty")
        if not surname:
            error("surname", "is empty")
        name = f"{forename} {surname}"

    year = None
    year_text = value("year")
    match = YEAR_PATTERN.match(year_text)
    if not match:
        error("year", f"{year_text!r} is not a year group" if year_text else "is empty")
    else:
        digits = match.group(1)
        try:
            year = check_year(int(digits) if digits.isdigit() else 0)
        except ActionError as problem:
            error("year", f"{year_text!r}: {problem}")

    class_name = value("class")
    if not class_name:
        error("class", "is empty")

    external_id = value("external_id") or None
    card_uid = None
    if value("card"):
        try:
            card_uid = normalise_uid(value("card"))
        except ActionError as problem:
            error("card", str(problem))

    for key, text in (("name", name), ("class", class_name), ("external_id", external_id)):
        if text and len(text) > MAX_LENGTH[key]:
            error(key, f"is longer than {MAX_LENGTH[key]} characters")

    if len(errors) > before or year is None:
        return None
    return PupilRow(number, name, year, class_name, external_id, card_uid)


def format_errors(plan: ImportPlan) -> str:
    """The plan's errors as text for the terminal: a summary line, then one error a line."""
    if plan.ok:
        return ""
    count = len(plan.errors)
    lines = [f"{count} problem{'s' if count != 1 else ''} in the file; nothing was imported:"]
    lines += [f"  {error}" for error in plan.errors]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- applying


#: What the import depends on, compared before and after taking the write lock
#: (:func:`kiosk.store.db.fingerprint`): equal means no pupil or card changed in between.
FINGERPRINT_SQL = (
    "SELECT id, external_id, name, class_name, year, active, left_at FROM pupils ORDER BY id",
    "SELECT id, uid, pupil_id FROM cards WHERE active ORDER BY id",
)


@dataclass(frozen=True)
class _Snapshot:
    """The pupils and active cards an import is matched against, read in two queries."""

    pupils: dict[int, Row]  # id -> (id, external_id, name, class_name, year, active, left_at)
    cards: dict[str, Row]  # uid -> (id, uid, pupil_id), active cards only
    fingerprint: tuple

    @classmethod
    def read(cls, session: Session) -> _Snapshot:
        connection = session.connection()  # Core rows: no ORM bookkeeping for 50,000 of them
        # The fingerprint first: if it is unchanged later, so is what was read after it.
        fingerprint = _fingerprint(session)
        pupils = connection.execute(
            select(Pupil.id, Pupil.external_id, Pupil.name, Pupil.class_name, Pupil.year,
                   Pupil.active, Pupil.left_at).order_by(Pupil.id)
        ).all()
        cards = connection.execute(
            select(Card.id, Card.uid, Card.pupil_id).where(Card.active).order_by(Card.id)
        ).all()
        return cls({p.id: p for p in pupils}, {c.uid: c for c in cards}, fingerprint)


def _fingerprint(session: Session) -> tuple:
    return fingerprint(session, FINGERPRINT_SQL)


@dataclass
class _Step:
    row: PupilRow
    outcome: RowOutcome
    pupil: Row | None
    adopt_id: bool = False  # a hand-added pupil is matched by name and gets the file's UPN


@dataclass
class ImportTimings:
    """Where an import's time went (seconds), for ``phonelocker bench import``."""

    prepare: float = 0.0  # reading, matching and preparing the statements, before the lock
    write: float = 0.0  # from asking for the write lock to the last statement (then: commit)


# The write's statements, run with kiosk.store.prepared.run_many: one DBAPI executemany
# each, the values converted before the lock is taken.
INSERT_PUPIL = (
    sql_text(
        "INSERT INTO pupils (id, external_id, name, year, class_name, active, created_at)"
        " VALUES (:id, :external_id, :name, :year, :class_name, :active, :created_at)"
    ),
    {"active": Boolean(), "created_at": DateTime()},
)
UPDATE_PUPIL = (
    sql_text(
        "UPDATE pupils SET name = :name, year = :year, class_name = :class_name,"
        " active = :active, left_at = :left_at, external_id = :external_id WHERE id = :id"
    ),
    {"active": Boolean(), "left_at": DateTime()},
)
REVOKE_CARD = (
    sql_text("UPDATE cards SET active = :active, revoked_at = :revoked_at WHERE id = :id"),
    {"active": Boolean(), "revoked_at": DateTime()},
)
INSERT_CARD = (
    sql_text(
        "INSERT INTO cards (uid, pupil_id, active, issued_at) VALUES (:uid, :pupil_id, :active,"
        " :issued_at)"
    ),
    {"active": Boolean(), "issued_at": DateTime()},
)


def apply_import(
    session: Session, plan: ImportPlan, *, actor: str, dry_run: bool = False,
    timings: ImportTimings | None = None,
) -> ImportResult:
    """Create or update the plan's pupils in ``session``; the caller commits at once.

    Pupils are matched on ``external_id`` (UPN/admission number) when the row has
    one, otherwise on exact name and class. Everything is checked before anything
    is written: on any problem :class:`ActionError` is raised and the session is
    untouched. With ``dry_run`` nothing is ever written and the result says what
    would happen. One ``import`` event records the totals, beside the
    pupil_added, pupil_updated, enrol and card_revoked events :mod:`kiosk.school.pupils`
    would record row by row.

    The write is kept short so the kiosk's taps never wait long on it: pupils
    and cards are read and matched, and every statement's values prepared,
    outside any transaction. Then the write lock is taken
    (:func:`kiosk.store.db.begin_write`) and the pupils and cards are read again: if
    anything changed meanwhile (a pupil edited on the dashboard, a card
    enrolled) the import is matched again from what is there now, so nothing
    written in between is overwritten or lost. Then a handful of bulk
    statements apply it.
    """
    if not plan.ok:
        raise ActionError(format_errors(plan))
    started = time.perf_counter()
    snapshot = _Snapshot.read(session)
    steps, moved_cards = _prepare(snapshot, plan)
    result = _result(steps, dry_run)
    if dry_run:
        if timings is not None:
            timings.prepare = time.perf_counter() - started
        return result
    now = utcnow()
    statements = _statements(session, steps, moved_cards, snapshot, now, actor, result.summary)
    # On SQLite the reads above ran outside any transaction (pysqlite starts one at
    # the first write), so the lock taken now comes with a fresh snapshot.
    prepared = time.perf_counter()
    begin_write(session)
    if _fingerprint(session) != snapshot.fingerprint:
        snapshot = _Snapshot.read(session)
        steps, moved_cards = _prepare(snapshot, plan)
        result = _result(steps, dry_run)
        statements = _statements(session, steps, moved_cards, snapshot, now, actor,
                                 result.summary)
    for statement, binds, rows in statements:
        if rows:
            run_many(session, statement, binds, rows)
    if timings is not None:
        timings.prepare = prepared - started
        timings.write = time.perf_counter() - prepared
    return result


def _result(steps: list[_Step], dry_run: bool) -> ImportResult:
    return ImportResult(
        created=sum(s.outcome.action == "create" for s in steps),
        updated=sum(s.outcome.action == "update" for s in steps),
        unchanged=sum(s.outcome.action == "unchanged" for s in steps),
        rows=[s.outcome for s in steps],
        dry_run=dry_run,
    )


def _new_pupil_ids(session: Session, snapshot: _Snapshot, count: int) -> list[int]:
    """Ids for ``count`` new pupils, chosen before the write so events can name them.

    SQLite: the ones after the highest id; valid because the write checks under
    the lock that the pupils are still those of ``snapshot``. PostgreSQL: taken
    from the table's sequence, which no one else can be given.
    """
    if not count:
        return []
    if session.get_bind().dialect.name == "sqlite":
        first = max(snapshot.pupils, default=0) + 1
        return list(range(first, first + count))
    return list(session.connection().exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('pupils', 'id')) FROM generate_series(1, {count:d})"
    ).scalars())


def _statements(
    session: Session, steps: list[_Step], moved_cards: list[str], snapshot: _Snapshot,
    now, actor: str, summary: str,
) -> list[tuple]:
    """The write as ``(statement, binds, rows)`` in the order to run them.

    The events are those :mod:`kiosk.school.pupils` would record row by row, in the
    same order: cards moving between pupils in this file are revoked first (so
    swaps work in any order), then each row's pupil, then its card.
    """
    events: list[dict] = []
    revoked: list[dict] = []
    revoked_ids: set[int] = set()

    def revoke(card: Row, reason: str) -> None:
        revoked.append({"id": card.id, "active": False, "revoked_at": now})
        revoked_ids.add(card.id)
        events.append(event_values(Kind.CARD_REVOKED, at=now, pupil_id=card.pupil_id,
                                   card_uid=card.uid, actor=actor, reason=reason))

    for uid in moved_cards:
        revoke(snapshot.cards[uid], "moved to another pupil by import")

    creates = [step for step in steps if step.pupil is None]
    new_pupils: list[dict] = []
    for step, pupil_id in zip(creates, _new_pupil_ids(session, snapshot, len(creates)),
                              strict=True):
        step.outcome.pupil_id = pupil_id
        new_pupils.append({"id": pupil_id, "name": step.row.name, "year": step.row.year,
                           "class_name": step.row.class_name,
                           "external_id": step.row.external_id, "active": True,
                           "created_at": now})

    cards_of: dict[int, list[Row]] = {}
    for card in snapshot.cards.values():
        cards_of.setdefault(card.pupil_id, []).append(card)
    updates: list[dict] = []
    new_cards: list[dict] = []
    for step in steps:
        row, pupil_id = step.row, step.outcome.pupil_id
        if step.pupil is None:
            events.append(event_values(Kind.PUPIL_ADDED, at=now, pupil_id=pupil_id, actor=actor))
        elif step.outcome.action == "update":
            pupil = step.pupil
            updates.append({
                "id": pupil.id, "name": row.name, "year": row.year,
                "class_name": row.class_name, "active": True,
                "left_at": pupil.left_at if pupil.active else None,
                "external_id": row.external_id if step.adopt_id else pupil.external_id,
            })
            # The reason names the fields as kiosk.school.pupils.update_pupil does.
            fields = [c for c in step.outcome.changes if c not in ("external_id", "card")]
            if fields:
                events.append(event_values(Kind.PUPIL_UPDATED, at=now, pupil_id=pupil_id,
                                           actor=actor, reason=", ".join(fields)))
            if step.adopt_id:
                events.append(event_values(Kind.PUPIL_UPDATED, at=now, pupil_id=pupil_id,
                                           actor=actor, reason="external_id"))
        if row.card_uid and (step.pupil is None or "card" in step.outcome.changes):
            for card in cards_of.get(pupil_id, []):
                if card.id not in revoked_ids:
                    revoke(card, f"replaced by {row.card_uid}")
            new_cards.append({"uid": row.card_uid, "pupil_id": pupil_id, "active": True,
                              "issued_at": now})
            events.append(event_values(Kind.ENROL, at=now, pupil_id=pupil_id,
                                       card_uid=row.card_uid, actor=actor))
    events.append(event_values(Kind.IMPORT, at=now, actor=actor, reason=summary))
    dialect = session.get_bind().dialect
    # Revocations before the new cards: a card UID may be active for one pupil only.
    return [
        (statement, binds, prepare_rows(statement, binds, dialect, rows))
        for (statement, binds), rows in (
            (REVOKE_CARD, revoked), (INSERT_PUPIL, new_pupils), (UPDATE_PUPIL, updates),
            (INSERT_CARD, new_cards), ((INSERT_EVENTS_SQL, INSERT_EVENT_TYPES), events),
        )
    ]


def _prepare(snapshot: _Snapshot, plan: ImportPlan) -> tuple[list[_Step], list[str]]:
    """Match rows to pupils and check cards, in memory; raise ActionError on conflicts."""
    pupils = snapshot.pupils
    by_id = {p.external_id: p for p in pupils.values() if p.external_id}
    by_name: dict[tuple[str, str], list[Row]] = {}
    for pupil in pupils.values():
        by_name.setdefault((pupil.name, pupil.class_name), []).append(pupil)
    cards = snapshot.cards
    card_of = {c.pupil_id: c.uid for c in cards.values()}

    problems: list[str] = []
    steps: list[_Step] = []
    row_of_pupil: dict[int, _Step] = {}
    for row in plan.rows:
        pupil, adopt = by_id.get(row.external_id or ""), False
        if pupil is None:
            named = [
                p for p in by_name.get((row.name, row.class_name), [])
                if not (row.external_id and p.external_id)
            ]
            if len(named) > 1:
                problems.append(
                    f"row {row.row}: {len(named)} pupils are called {row.name} in "
                    f"{row.class_name}; add a UPN column to tell them apart"
                )
                continue
            pupil = named[0] if named else None
            adopt = pupil is not None and bool(row.external_id)
        step = _Step(row, RowOutcome(row.row, row.name, "create"), pupil, adopt)
        steps.append(step)
        if pupil is None:
            continue
        if pupil.id in row_of_pupil:
            problems.append(
                f"row {row.row}: is the same pupil as row {row_of_pupil[pupil.id].row.row}"
            )
        row_of_pupil[pupil.id] = step
        step.outcome.pupil_id = pupil.id
        step.outcome.changes = _changes(pupil, row, card_of.get(pupil.id), adopt)
        step.outcome.action = "update" if step.outcome.changes else "unchanged"

    moved: list[str] = []
    for step in steps:
        uid = step.row.card_uid
        owner = pupils[cards[uid].pupil_id] if uid in cards else None
        if owner is None or (step.pupil is not None and owner.id == step.pupil.id):
            continue
        other = row_of_pupil.get(owner.id)
        if other is not None and other.row.card_uid and other.row.card_uid != uid:
            moved.append(uid)
        else:
            where = f"row {other.row.row}" if other else "who is not in this file"
            problems.append(
                f"row {step.row.row}: card {uid} already belongs to {owner.name} "
                f"({owner.class_name}), {where}"
            )
    if problems:
        raise ActionError("nothing was imported: " + "; ".join(problems))
    return steps, moved


def _changes(pupil: Row, row: PupilRow, card_uid: str | None, adopt_id: bool) -> list[str]:
    """The fields ``row`` would change, named as
    :func:`kiosk.school.pupils.update_pupil` names them."""
    pairs = (
        ("name", row.name != pupil.name),
        ("year", row.year != pupil.year),
        ("class", row.class_name != pupil.class_name),
        ("active", not pupil.active),
        ("external_id", adopt_id),
        ("card", row.card_uid is not None and row.card_uid != card_uid),
    )
    return [name for name, changed in pairs if changed]
