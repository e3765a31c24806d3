"""Import pupils from a school management system (MIS) CSV export.

Two steps, so the dashboard can show a preview before anything is written:

* :func:`kiosk.school.pupil_csv.parse_pupils_csv` reads and checks the file
  without touching the database, returning an ``ImportPlan`` of good rows and
  row errors.
* :func:`apply_import` matches the rows to existing pupils and creates or
  updates them, recording the events :mod:`kiosk.school.pupils` would (so every
  change is an event). It is all or nothing: every check is made before the
  first write, and the write itself is a few bulk statements in one short
  transaction (the kiosk's taps wait for it, see :mod:`kiosk.store.db`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Boolean, DateTime, Row, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from kiosk.errors import ActionError
from kiosk.school.pupil_csv import ImportPlan, PupilRow, format_errors
from kiosk.store.db import begin_write, fingerprint
from kiosk.store.events import INSERT_EVENT_TYPES, INSERT_EVENTS_SQL, Kind, event_values
from kiosk.store.models import Card, Pupil
from kiosk.store.prepared import prepare_rows, run_many
from kiosk.timeutil import utcnow


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
