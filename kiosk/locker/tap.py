"""The kiosk service: tap -> decide -> record -> open -> feedback.

This is the one orchestrator. The reader thread calls :meth:`KioskService.tap`;
the daemon calls the command methods. A mutex serialises them, so a tap and
an office command never interleave.

Record before open: the event (and the holding it changes) is committed,
and only then is the lock energised. A crash between the two leaves a
recorded deposit with a closed bay; the pupil taps again within the grace
period and the bay re-opens for the same action.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Boolean, Date, DateTime, Integer, String, bindparam, select, text

from hardware.locker import LockerHardware
from kiosk.calendar.days import school_day_on
from kiosk.config import Config
from kiosk.errors import ActionError
from kiosk.locker.clock import rebase
from kiosk.policy import (
    Action,
    Approval,
    Decision,
    LastAction,
    PupilFacts,
    SchoolDay,
    TapFacts,
    decide,
    is_random_uid,
)
from kiosk.school import pupils as pupil_actions
from kiosk.store.db import Database
from kiosk.store.events import (
    INSERT_EVENT_SQL,
    INSERT_EVENT_TYPES,
    Kind,
    insert_event,
    record_event,
)
from kiosk.store.models import Year5Approval
from kiosk.store.prepared import Prepared
from kiosk.timeutil import as_aware, aware_utc_now, naive_utc

log = logging.getLogger(__name__)

ENROL_WINDOW_SECONDS = 60.0
#: the daemon re-reads today's calendar entry once it is this old (checked every
#: 0.5 s poll): "school closing early" reaches the tap path within ~1.5 s
SCHOOL_DAY_REFRESH = 1.0
#: a tap re-reads it itself only past this age (the main loop stalled), so a tap
#: normally adds no round trip
SCHOOL_DAY_MAX_AGE = 2.0
#: debounce memory: pruned past this many cards
PREVIOUS_TAPS_KEPT = 256

# The tap path's statements. A tap is on the critical path of a queue of
# pupils, so it is plain, portable SQL (SQLite and PostgreSQL), compiled once
# for the engine's dialect and run on a DBAPI cursor (kiosk/store/prepared.py).
# One round trip fetches the card, its pupil, the holding, the pupil's last
# deposit or collection (through the events (pupil_id, at) index) and
# whether an early release is recorded for today.
CARD_FACTS_SQL = text(
    """
    SELECT cards.pupil_id, cards.active AS card_active,
           pupils.year, pupils.active AS pupil_active, pupils.bay,
           holdings.since AS holding_since, holdings.bay AS holding_bay,
           last_action.kind AS last_kind, last_action.at AS last_at, last_action.bay AS last_bay,
           EXISTS (SELECT 1 FROM early_releases
                   WHERE early_releases.pupil_id = cards.pupil_id
                     AND early_releases.on_date = :today) AS released_today
    FROM cards
    JOIN pupils ON pupils.id = cards.pupil_id
    LEFT JOIN holdings ON holdings.pupil_id = cards.pupil_id
    LEFT JOIN events AS last_action ON last_action.id = (
        SELECT events.id FROM events
        WHERE events.pupil_id = cards.pupil_id
          AND (events.kind = 'deposit' OR events.kind = 'collect')
        ORDER BY events.at DESC, events.id DESC
        LIMIT 1)
    WHERE cards.uid = :uid
    ORDER BY cards.active DESC, cards.id DESC
    LIMIT 1
    """
)
CARD_FACTS_COLUMNS = {
    "pupil_id": Integer(), "card_active": Boolean(), "year": Integer(),
    "pupil_active": Boolean(), "bay": Integer(), "holding_since": DateTime(),
    "holding_bay": Integer(), "last_kind": String(), "last_at": DateTime(),
    "last_bay": Integer(), "released_today": Boolean(),
}
INSERT_HOLDING_SQL = text(
    "INSERT INTO holdings (pupil_id, locker_id, bay, since, event_id)"
    " VALUES (:pupil_id, :locker_id, :bay, :since, :event_id)"
)
DELETE_HOLDING_SQL = text("DELETE FROM holdings WHERE pupil_id = :pupil_id")
_APPROVALS = select(
    Year5Approval.approved_at, Year5Approval.until, Year5Approval.revoked_at
).where(Year5Approval.pupil_id == bindparam("pupil_id"))


class TapStatements:
    """The tap path's statements, prepared for one engine's dialect."""

    def __init__(self, dialect) -> None:
        self.card_facts = Prepared(
            CARD_FACTS_SQL, dialect, binds={"today": Date()}, columns=CARD_FACTS_COLUMNS
        )
        self.insert_event = Prepared(INSERT_EVENT_SQL, dialect, binds=INSERT_EVENT_TYPES)
        self.insert_holding = Prepared(INSERT_HOLDING_SQL, dialect, binds={"since": DateTime()})
        self.delete_holding = Prepared(DELETE_HOLDING_SQL, dialect)


@dataclass(frozen=True)
class TapOutcome:
    uid: str
    decision: Decision
    event_id: int | None = None
    pupil_id: int | None = None
    enrolled: bool = False

    @property
    def summary(self) -> str:
        if self.enrolled:
            return "enrolled"
        if self.decision.action is Action.REFUSE:
            return f"refused: {self.decision.reason}"
        return str(self.decision.action)


@dataclass
class PendingEnrolment:
    command_id: int
    pupil_id: int
    actor: str
    expires_at: datetime
    result: str | None = None
    ok: bool = False


class KioskService:
    """Decides taps and carries out commands for one locker."""

    def __init__(
        self,
        config: Config,
        db: Database,
        hardware: LockerHardware,
        *,
        clock: Callable[[], datetime] = aware_utc_now,
        clock_suspect: Callable[[datetime], bool] = lambda now: False,
        rebase_recorded: Callable[[datetime, datetime], datetime] | None = None,
    ) -> None:
        """``clock`` gives aware now; ``clock_suspect(now)`` flags events; and
        ``rebase_recorded(at, now)`` places a recorded time on the timeline of
        ``now`` after the clock stepped back (``ClockGuard.rebase``; default:
        anything later than now was recorded before this service started)."""
        self.config = config
        self.db = db
        self.hardware = hardware
        self.clock = clock
        self.clock_suspect = clock_suspect
        self.locker_id = config.locker.id
        self.bay_numbers = tuple(sorted(hardware.bays))
        self._mutex = threading.RLock()
        self._previous_tap: dict[str, datetime] = {}
        self.statements = TapStatements(db.engine.dialect)
        self.enrolment: PendingEnrolment | None = None
        self.last_tap: tuple[datetime, str, str] | None = None
        #: (local date, its calendar entry, time.monotonic() when read)
        self._school_day: tuple[date, SchoolDay | None, float] | None = None
        started = clock()
        self.rebase_recorded = rebase_recorded or (
            lambda at, now: rebase(at, now, boundary=started)
        )

    # --- taps -----------------------------------------------------------------

    def tap(self, uid: str, now: datetime | None = None) -> TapOutcome:
        """Handle one card read. Never leaves a lock open on error."""
        with self._mutex:
            now = now or self.clock()
            try:
                outcome = self._tap(uid, now)
            except Exception:
                log.exception("tap %s failed", uid)
                self.hardware.refuse()
                self.last_tap = (now, uid, "error")
                raise
            if outcome.summary != "ignore":  # a card held on or re-tapped at once
                self.last_tap = (now, uid, outcome.summary)
            return outcome

    def _tap(self, uid: str, now: datetime) -> TapOutcome:
        enrolment = self.enrolment
        waiting = enrolment is not None and enrolment.result is None
        if waiting and now < enrolment.expires_at and self._is_card_to_enrol(uid, enrolment):
            return self._enrol(uid, enrolment, now)
        # A pooled DBAPI connection and prepared statements: see kiosk/store/prepared.py.
        connection = self.db.engine.raw_connection()
        cursor = connection.cursor()
        try:
            facts, pupil_id = self._facts(cursor, uid, now)
            decision = decide(facts, now, self.config.policy)
            self._remember_tap(uid, now)
            if decision.action is Action.IGNORE:
                log.debug("card %s: ignored (%s)", uid, decision.reason)
                return TapOutcome(uid, decision)
            event_id = self._record(cursor, decision, uid, pupil_id, now)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.close()
            connection.close()  # back to the pool
        if decision.opens_lock and decision.bay is not None:
            self.hardware.unlock(decision.bay, self.config.locker.unlock_seconds)
            self.hardware.accept()
        else:
            self.hardware.refuse()
        log.info("card %s: %s bay=%s %s", uid, decision.action, decision.bay, decision.reason or "")
        return TapOutcome(uid, decision, event_id=event_id, pupil_id=pupil_id)

    def _remember_tap(self, uid: str, now: datetime) -> None:
        """Note the tap for the debounce; forget old ones (random-ID cards never repeat)."""
        self._previous_tap[uid] = now
        if len(self._previous_tap) > PREVIOUS_TAPS_KEPT:
            horizon = now - timedelta(seconds=self.config.policy.debounce_seconds)
            self._previous_tap = {
                card: at for card, at in self._previous_tap.items() if at >= horizon
            }

    def _recorded(self, at: datetime | None, now: datetime) -> datetime | None:
        """A recorded time (aware) as policy must see it: never after ``now``, even when
        the clock has stepped back since (or the grace re-open would never come)."""
        return None if at is None else self.rebase_recorded(at, now)

    def _facts(self, cursor, uid: str, now: datetime) -> tuple[TapFacts, int | None]:
        base = {
            "uid": uid,
            "previous_tap_at": self._recorded(self._previous_tap.get(uid), now),
            "locker_bays": self.bay_numbers,
        }
        today = now.astimezone(self.config.policy.zone).date()
        card = self.statements.card_facts.first(cursor, {"uid": uid, "today": today})
        if card is None:
            return TapFacts(**base), None
        base["school_day"] = self.school_day(today)
        pupil_id = card["pupil_id"]
        releases = frozenset({today}) if card["released_today"] else frozenset()
        approvals: tuple[Approval, ...] = ()
        if card["holding_since"] is None and card["year"] == 5:
            approvals = self._approvals(pupil_id)
        facts = TapFacts(
            **base,
            card_known=True,
            card_active=card["card_active"],
            pupil=PupilFacts(
                id=pupil_id,
                year=card["year"],
                active=card["pupil_active"],
                bay=card["bay"],
                approvals=approvals,
                early_release_dates=releases,
            ),
            holding_since=as_aware(card["holding_since"]),
            holding_bay=card["holding_bay"],
            last_action=(
                LastAction(
                    card["last_kind"], self._recorded(as_aware(card["last_at"]), now),
                    card["last_bay"],
                )
                if card["last_kind"] is not None
                else None
            ),
        )
        return facts, pupil_id

    def school_day(self, today: date) -> SchoolDay | None:
        """Today's calendar entry, from the cache while it is under SCHOOL_DAY_MAX_AGE."""
        cached = self._school_day
        if (cached is None or cached[0] != today
                or time.monotonic() - cached[2] > SCHOOL_DAY_MAX_AGE):
            return self.refresh_school_day(today)
        return cached[1]

    def refresh_school_day(
        self, today: date | None = None, *, older_than: float = 0.0
    ) -> SchoolDay | None:
        """Read today's calendar entry unless the cached one is younger than
        ``older_than`` seconds (the daemon calls this every poll with
        :data:`SCHOOL_DAY_REFRESH`), so a school closing early lets phones out at once."""
        if today is None:
            today = self.clock().astimezone(self.config.policy.zone).date()
        cached = self._school_day
        if (older_than > 0 and cached is not None and cached[0] == today
                and time.monotonic() - cached[2] < older_than):
            return cached[1]
        with self.db.engine.connect() as connection:
            day = school_day_on(connection, today)
        self._school_day = (today, day, time.monotonic())
        return day

    def _approvals(self, pupil_id: int) -> tuple[Approval, ...]:
        """Year 5 approvals: rare (a Year 5 pupil's hand-in), so the ordinary Core path."""
        with self.db.engine.connect() as connection:
            return tuple(
                Approval(as_aware(row.approved_at), row.until, as_aware(row.revoked_at))
                for row in connection.execute(_APPROVALS, {"pupil_id": pupil_id})
            )

    def _record(
        self,
        cursor,
        decision: Decision,
        uid: str,
        pupil_id: int | None,
        now: datetime,
    ) -> int:
        at = naive_utc(now)
        common = {
            "at": at,
            "pupil_id": pupil_id,
            "card_uid": uid,
            "locker_id": self.locker_id,
            "bay": decision.bay,
            "clock_suspect": self.clock_suspect(now),
        }
        notes = [decision.reason] if decision.reason else []
        if decision.overnight:
            notes.append("overnight")
        reason = ", ".join(notes) or None
        statements = self.statements
        insert = statements.insert_event
        if decision.action is Action.REFUSE:
            return insert_event(cursor, insert, Kind.REFUSED, reason=reason, **common)
        if decision.action is Action.REOPEN:
            return insert_event(
                cursor, insert, Kind.REOPEN, reason=f"repeat {decision.repeats}", **common
            )
        if decision.action is Action.DEPOSIT:
            event_id = insert_event(cursor, insert, Kind.DEPOSIT, reason=reason, **common)
            statements.insert_holding.execute(
                cursor,
                {"pupil_id": pupil_id, "locker_id": self.locker_id, "bay": decision.bay,
                 "since": at, "event_id": event_id},
            )
            return event_id
        event_id = insert_event(cursor, insert, Kind.COLLECT, reason=reason, **common)
        statements.delete_holding.execute(cursor, {"pupil_id": pupil_id})
        return event_id

    # --- enrolment ------------------------------------------------------------

    def begin_enrolment(self, command_id: int, pupil_id: int, actor: str, now: datetime) -> None:
        with self._mutex:
            self.enrolment = PendingEnrolment(
                command_id, pupil_id, actor, now + timedelta(seconds=ENROL_WINDOW_SECONDS)
            )
            self.hardware.accept()

    def _is_card_to_enrol(self, uid: str, enrolment: PendingEnrolment) -> bool:
        """Whether a tap during an enrolment is the card being enrolled.

        The office may enrol while pupils queue: another pupil's card, or a
        phone or bank card, is a tap like any other (hand-in, collection,
        refusal) and the enrolment keeps waiting for the new card.
        """
        if is_random_uid(uid):
            return False
        with self.db.session() as session:
            card = pupil_actions.active_card(session, uid)
        return card is None or card.pupil_id == enrolment.pupil_id

    def _enrol(self, uid: str, enrolment: PendingEnrolment, now: datetime) -> TapOutcome:
        decision = Decision(Action.IGNORE, reason="enrol")
        with self.db.session() as session:
            try:
                pupil = pupil_actions.get_pupil(session, enrolment.pupil_id)
                pupil_actions.assign_card(
                    session, pupil, uid, actor=enrolment.actor, locker_id=self.locker_id,
                    now=now,
                )
                session.commit()
            except ActionError as error:
                session.rollback()
                enrolment.result, enrolment.ok = str(error), False
                self.hardware.refuse()
                return TapOutcome(uid, decision, pupil_id=enrolment.pupil_id)
            enrolment.result = f"card {uid} assigned to {pupil.name}"
            enrolment.ok = True
        self._remember_tap(uid, now)  # so holding the card on does not also deposit
        self.hardware.accept()
        return TapOutcome(uid, decision, pupil_id=enrolment.pupil_id, enrolled=True)

    def finish_enrolment(self, now: datetime) -> PendingEnrolment | None:
        """Return the enrolment if it has a result or has expired, and clear it."""
        with self._mutex:
            enrolment = self.enrolment
            if enrolment is None:
                return None
            if enrolment.result is None and now < enrolment.expires_at:
                return None
            if enrolment.result is None:
                enrolment.result, enrolment.ok = "no card tapped", False
            self.enrolment = None
            return enrolment

    # --- office ---------------------------------------------------------------

    def override(
        self, *, actor: str, reason: str, bay: int | None, seconds: float, now: datetime
    ) -> str:
        """Emergency unlock of one bay (or all with ``bay=None``), recorded first."""
        with self._mutex:
            if bay is not None and bay not in self.hardware.bays:
                raise ActionError(f"locker {self.locker_id} has no bay {bay}")
            with self.db.session() as session:
                record_event(
                    session, Kind.OVERRIDE, at=naive_utc(now), locker_id=self.locker_id,
                    bay=bay, actor=actor, reason=reason, clock_suspect=self.clock_suspect(now),
                )
                session.commit()
            if bay is None:
                self.hardware.unlock_all(seconds)
                which = "all bays"
            else:
                self.hardware.unlock(bay, seconds)
                which = f"bay {bay}"
            log.warning("override by %s: %s unlocked for %g s", actor, which, seconds)
            return f"{self.config.locker.name}: {which} unlocked for {seconds:g} s"

    def forced_door(self, bay: int) -> None:
        """A door opened while its lock was locked (called from a gpiozero thread)."""
        now = self.clock()
        try:
            with self.db.session() as session:
                record_event(
                    session, Kind.FORCED_DOOR, at=naive_utc(now), locker_id=self.locker_id,
                    bay=bay, reason="door opened while locked",
                    clock_suspect=self.clock_suspect(now),
                )
                session.commit()
        except Exception:
            log.exception("could not record forced door on bay %d", bay)
