"""The new school year: everyone moves up a year, Year 6 leave.

Pure domain functions; the click command is in :mod:`kiosk.cli.care`.

Database writes follow the project's rule for this pysqlite setup (no
``begin_nested``): everything is checked first, then written, then committed
once, so a refusal leaves nothing behind. The write is a few bulk statements
under ``BEGIN IMMEDIATE`` (:func:`kiosk.store.db.begin_write`), so it is short and
the kiosk's taps wait for it rather than fail.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Boolean, DateTime, func, select, text
from sqlalchemy.orm import Session

from kiosk.care.common import count_rows
from kiosk.errors import MaintenanceError
from kiosk.store.db import begin_write, fingerprint
from kiosk.store.events import (
    INSERT_EVENT_TYPES,
    INSERT_EVENTS_SQL,
    Kind,
    event_values,
    record_event,
)
from kiosk.store.models import Card, Event, Holding, Pupil, Year5Approval
from kiosk.store.prepared import prepare_rows, run_many
from kiosk.timeutil import naive_utc

#: pupils in this year (or above) leave at the rollover; everyone else moves up one year
LEAVING_YEAR = 6
#: a second rollover within this many days is refused without --force
ROLLOVER_REPEAT_DAYS = 180
#: what a plan is read from (pupils, active cards, approvals in force),
#: for kiosk.store.db.fingerprint
FINGERPRINT_SQL = (
    "SELECT id, year, active FROM pupils ORDER BY id",
    "SELECT id, pupil_id FROM cards WHERE active ORDER BY id",
    "SELECT id, until FROM year5_approvals WHERE revoked_at IS NULL ORDER BY id",
)
MOVE_UP = (text("UPDATE pupils SET year = :year WHERE id = :id"), {})
LEAVE = (
    text("UPDATE pupils SET active = :active, left_at = :left_at WHERE id = :id"),
    {"active": Boolean(), "left_at": DateTime()},
)
REVOKE_CARD = (
    text("UPDATE cards SET active = :active, revoked_at = :revoked_at WHERE id = :id"),
    {"active": Boolean(), "revoked_at": DateTime()},
)
END_APPROVAL = (
    text("UPDATE year5_approvals SET revoked_at = :revoked_at, revoked_by = :revoked_by"
         " WHERE id = :id"),
    {"revoked_at": DateTime()},
)


@dataclass(frozen=True)
class Move:
    pupil_id: int
    name: str
    class_name: str
    year_from: int
    year_to: int | None  # None: leaves


@dataclass
class RolloverPlan:
    at: datetime
    moves: list[Move] = field(default_factory=list)
    leavers: list[Move] = field(default_factory=list)
    cards_to_revoke: int = 0
    #: (approval id, pupil id, pupil name)
    approvals_to_end: list[tuple[int, int, str]] = field(default_factory=list)
    #: (pupil id, name, year, locker, bay, leaving)
    holdings: list[tuple[int, str, int, str, int, bool]] = field(default_factory=list)
    previous_rollover: datetime | None = None
    #: the school's local date the plan was made for (approvals ending "until" today)
    today: date | None = None
    #: what the plan was read from (kiosk.store.db.fingerprint), checked again under the write lock
    fingerprint: tuple = ()
    applied: bool = False
    event_id: int | None = None

    @property
    def year_counts(self) -> dict[str, int]:
        counts = Counter(f"{m.year_from}->{m.year_to}" for m in self.moves)
        return dict(sorted(counts.items(), key=lambda item: int(item[0].split("->")[0])))

    def blockers(self) -> list[str]:
        problems = []
        if self.holdings:
            listed = ", ".join(
                f"{pid} {name} (Year {year}, {locker} bay {bay}"
                f"{', leaving' if leaving else ''})"
                for pid, name, year, locker, bay, leaving in self.holdings
            )
            problems.append(
                f"{len(self.holdings)} phone(s) still in a locker: {listed}. Return them "
                "(collect, or the office's return) first: archiving a leaver would strand "
                "the phone"
            )
        if self.previous_rollover is not None:
            problems.append(
                f"a rollover was already done on {self.previous_rollover:%Y-%m-%d}: running "
                "it again would move everyone up another year"
            )
        return problems


def plan_rollover(session: Session, *, now: datetime | None = None, today: date | None = None
                  ) -> RolloverPlan:
    """What a new-school-year rollover would change; writes nothing.

    Every active pupil moves up one year, except those in Year 6 (or above),
    who leave. Year 5 approvals still in force (not revoked, ``until`` not
    passed) are ended. Classes are left alone.
    """
    now = naive_utc(now)
    today = today or now.date()
    # Before reading the plan, so apply_rollover can tell if anything changed after it.
    plan = RolloverPlan(at=now, today=today, fingerprint=fingerprint(session, FINGERPRINT_SQL))
    pupils = session.scalars(
        select(Pupil).where(Pupil.active.is_(True)).order_by(Pupil.year, Pupil.class_name,
                                                              Pupil.name, Pupil.id)
    ).all()
    for pupil in pupils:
        if pupil.year >= LEAVING_YEAR:
            plan.leavers.append(Move(pupil.id, pupil.name, pupil.class_name, pupil.year, None))
        else:
            plan.moves.append(
                Move(pupil.id, pupil.name, pupil.class_name, pupil.year, pupil.year + 1)
            )
    leaving = {m.pupil_id for m in plan.leavers}
    plan.cards_to_revoke = count_rows(
        session, select(Card.id).where(Card.pupil_id.in_(leaving), Card.active.is_(True))
    )
    rows = session.execute(
        select(Year5Approval.id, Pupil.id, Pupil.name)
        .join(Pupil, Pupil.id == Year5Approval.pupil_id)
        .where(
            Year5Approval.revoked_at.is_(None),
            Year5Approval.until.is_(None) | (Year5Approval.until >= today),
        )
        .order_by(Pupil.name, Year5Approval.id)
    ).all()
    plan.approvals_to_end = [tuple(row) for row in rows]
    held = session.execute(
        select(Pupil.id, Pupil.name, Pupil.year, Holding.locker_id, Holding.bay)
        .join(Holding, Holding.pupil_id == Pupil.id)
        .order_by(Pupil.name, Pupil.id)
    ).all()
    plan.holdings = [
        (pid, name, year, locker, bay, pid in leaving) for pid, name, year, locker, bay in held
    ]
    previous = session.scalar(
        select(func.max(Event.at)).where(
            Event.kind == Kind.ROLLOVER.value,
            Event.at >= now - timedelta(days=ROLLOVER_REPEAT_DAYS),
        )
    )
    plan.previous_rollover = previous
    return plan


def _statements(
    session: Session, plan: RolloverPlan, cards: dict[int, list[tuple[int, str]]], actor: str
) -> list[tuple]:
    """The rollover's writes as ``(statement, binds, rows)``, values converted before the lock.

    Bulk UPDATEs by primary key, one executemany each: the write lock is held
    for a fraction of a second however many pupils there are.
    """
    now = plan.at
    events: list[dict] = []
    for move in plan.moves:
        events.append(event_values(
            Kind.PUPIL_UPDATED, at=now, pupil_id=move.pupil_id, actor=actor,
            reason=f"rollover: year {move.year_from} -> {move.year_to}",
        ))
    for move in plan.leavers:
        events.append(event_values(
            Kind.PUPIL_UPDATED, at=now, pupil_id=move.pupil_id, actor=actor,
            reason=f"rollover: left (Year {move.year_from})",
        ))
        for _card_id, uid in cards.get(move.pupil_id, []):
            events.append(event_values(
                Kind.CARD_REVOKED, at=now, pupil_id=move.pupil_id, card_uid=uid, actor=actor,
                reason="rollover: pupil left",
            ))
    for pupil_id in dict.fromkeys(pupil for _approval, pupil, _name in plan.approvals_to_end):
        events.append(event_values(
            Kind.APPROVAL_REVOKED, at=now, pupil_id=pupil_id, actor=actor,
            reason="rollover: new school year",
        ))
    writes = (
        (MOVE_UP, [{"id": m.pupil_id, "year": m.year_to} for m in plan.moves]),
        (LEAVE, [{"id": m.pupil_id, "active": False, "left_at": now} for m in plan.leavers]),
        (REVOKE_CARD, [{"id": card_id, "active": False, "revoked_at": now}
                       for pupil_cards in cards.values() for card_id, _uid in pupil_cards]),
        (END_APPROVAL, [{"id": approval_id, "revoked_at": now, "revoked_by": actor}
                        for approval_id, _pupil, _name in plan.approvals_to_end]),
        ((INSERT_EVENTS_SQL, INSERT_EVENT_TYPES), events),
    )
    dialect = session.get_bind().dialect
    return [(statement, binds, prepare_rows(statement, binds, dialect, rows))
            for (statement, binds), rows in writes]


def apply_rollover(
    session: Session, plan: RolloverPlan, *, actor: str, force: bool = False
) -> RolloverPlan:
    """Carry out ``plan`` (from :func:`plan_rollover` in this session); the caller commits.

    Refuses (before writing anything) while a blocker stands, unless ``force``.
    Each pupil's change is recorded (pupil_updated, card_revoked,
    approval_revoked) and one rollover event records the counts.
    """
    if not actor or not actor.strip():
        raise MaintenanceError("say who is doing the rollover (--by)")
    if not (plan.moves or plan.leavers or plan.approvals_to_end):
        raise MaintenanceError("nothing to roll over: there are no active pupils")
    blockers = plan.blockers()
    if blockers and not force:
        raise MaintenanceError("rollover refused: " + "; ".join(blockers) + " (--force to go on)")
    now = plan.at
    leaving = [move.pupil_id for move in plan.leavers]
    cards: dict[int, list[tuple[int, str]]] = {}
    for card_id, pupil_id, uid in session.execute(
        select(Card.id, Card.pupil_id, Card.uid)
        .where(Card.pupil_id.in_(leaving), Card.active.is_(True))
        .order_by(Card.id)
    ):
        cards.setdefault(pupil_id, []).append((card_id, uid))
    statements = _statements(session, plan, cards, actor)
    # The plan was read outside any transaction. Take the write lock and check that
    # nothing it was read from has changed, so what is written is what was shown.
    begin_write(session)
    if fingerprint(session, FINGERPRINT_SQL) != plan.fingerprint:
        raise MaintenanceError(
            "the pupils changed while the rollover was being prepared (a pupil, card or "
            "approval was edited): nothing was changed; run it again"
        )
    if not force and session.scalar(select(func.count()).select_from(Holding)):
        raise MaintenanceError(
            "rollover refused: a phone was handed in meanwhile; return it first (--force to go on)"
        )
    for statement, binds, rows in statements:
        if rows:
            run_many(session, statement, binds, rows)
    session.expire_all()  # any Pupil objects loaded in this session are stale now
    moved = " ".join(f"{key}:{value}" for key, value in plan.year_counts.items())
    event = record_event(
        session,
        Kind.ROLLOVER,
        at=now,
        actor=actor,
        reason=(
            f"moved={len(plan.moves)} ({moved or 'none'}) left={len(plan.leavers)} "
            f"cards_revoked={plan.cards_to_revoke} approvals_ended={len(plan.approvals_to_end)}"
            + (f"; forced past: {len(plan.holdings)} phone(s) in a locker"
               if force and plan.holdings else "")
            + ("; forced past a recent rollover" if force and plan.previous_rollover else "")
        ),
    )
    plan.event_id = event.id
    plan.applied = True
    return plan
