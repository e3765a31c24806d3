"""Read a pupil CSV export from a school management system (MIS), without the database.

:func:`parse_pupils_csv` sniffs the encoding and delimiter, maps the header to
columns and checks every row, returning an :class:`ImportPlan` of good
:class:`PupilRow` rows and :class:`RowError` problems; :mod:`kiosk.school.importer`
then matches and applies the plan.

Exports from SIMS, Arbor and similar are accepted: headers are matched
case-insensitively, in UTF-8 (with or without BOM), UTF-16 or Windows cp1252.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from kiosk.errors import ActionError
from kiosk.school.pupils import check_year, normalise_uid

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
#: the year a class name states: its leading number ("6K" -> 6)
CLASS_YEAR = re.compile(r"[0-9]{1,2}(?![0-9])")


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
    #: row number -> why its year does not match its class (:func:`year_class_mismatch`):
    #: not an error (a mixed-age class is real), but the office must look before confirming
    mismatches: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

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
            mismatch = year_class_mismatch(row.year, row.class_name)
            if mismatch:
                plan.mismatches[row.row] = mismatch

    if not plan.rows and not plan.errors:
        plan.errors.append(RowError(None, None, "the file has a header row but no pupils"))
    return plan


def year_class_mismatch(year: int, class_name: str) -> str | None:
    """Why ``year`` does not fit ``class_name``, or None. The school's rule: a class
    whose name starts with a number is that year's ("6K" is Year 6, "10B" Year 10);
    other names ("Oak", "RB") say nothing about the year."""
    match = CLASS_YEAR.match(class_name)
    if match is None or int(match.group()) == year:
        return None
    said = "Reception" if year == 0 else f"Year {year}"
    return f"{said}, but class {class_name} is a Year {int(match.group())} class"


def format_mismatches(plan: ImportPlan) -> list[str]:
    """One line per row whose year does not match its class, for the terminal."""
    return [f"row {row}: {problem}" for row, problem in sorted(plan.mismatches.items())]


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
