"""The kiosk service: tap -> decide -> record -> open -> feedback.

This is the one orchestrator. The reader thread calls :meth:`KioskService.tap`;
the daemon calls the command methods. A mutex serialises them, so a tap and
an office command never interleave. The tap path is here (its facts are read
with :data:`CARD_FACTS_SQL`, it is recorded by :func:`kiosk.store.events.record_tap`);
enrolment is :mod:`kiosk.locker.enrolment`, the office override and forced
doors :mod:`kiosk.locker.override`.

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

from sqlalchemy import Boolean, Date, DateTime, Dialect, Integer, String, bindparam, select, text

from hardware.locker import LockerHardware
from kiosk.calendar.days import school_day_on
from kiosk.config import Config
from kiosk.locker.clock import rebase
from kiosk.locker.enrolment import Enrolment, PendingEnrolment
from kiosk.locker.override import Office
from kiosk.policy import (
    Action,
    Approval,
    Decision,
    LastAction,
    PupilFacts,
    SchoolDay,
    TapFacts,
    decide,
)
from kiosk.store.db import Database
from kiosk.store.events import TapRecordStatements, record_tap
from kiosk.store.models import Year5Approval
from kiosk.store.prepared import Prepared
from kiosk.timeutil import as_aware, aware_utc_now, naive_utc

log = logging.getLogger(__name__)

#: the daemon re-reads today's calendar entry once it is this old (checked every
#: 0.5 s poll): "school closing early" reaches the tap path within ~1.5 s
SCHOOL_DAY_REFRESH = 1.0
#: a tap re-reads it itself only past this age (the main loop stalled), so a tap
#: normally adds no round trip
SCHOOL_DAY_MAX_AGE = 2.0
#: debounce memory: pruned past this many cards
PREVIOUS_TAPS_KEPT = 256

# The tap path's read. It stays with the tap, not in kiosk/store/: it is the
# tap's one question, shaped by what policy.TapFacts needs; store/ writes.
# A tap is on the critical path of a queue of
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
           holdings.locker_id AS holding_locker,
           (SELECT lockers.name FROM lockers WHERE lockers.id = holdings.locker_id)
               AS holding_locker_name,
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
    "holding_bay": Integer(), "holding_locker": String(), "holding_locker_name": String(),
    "last_kind": String(), "last_at": DateTime(),
    "last_bay": Integer(), "released_today": Boolean(),
}
_APPROVALS = select(
    Year5Approval.approved_at, Year5Approval.until, Year5Approval.revoked_at
).where(Year5Approval.pupil_id == bindparam("pupil_id"))


class TapStatements:
    """The tap path's statements, prepared for one engine's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.card_facts = Prepared(
            CARD_FACTS_SQL, dialect, binds={"today": Date()}, columns=CARD_FACTS_COLUMNS
        )
        self.record = TapRecordStatements(dialect)


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
        self.enrolment = Enrolment(db, hardware, self.locker_id)
        self.office = Office(config, db, hardware, clock=clock, clock_suspect=clock_suspect)
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
        if self.enrolment.wants(uid, now):
            return self._enrol(uid, now)
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
            event_id = record_tap(
                cursor, self.statements.record, decision, uid=uid, pupil_id=pupil_id,
                locker_id=self.locker_id, at=naive_utc(now),
                clock_suspect=self.clock_suspect(now),
            )
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
            holding_elsewhere=(
                (card["holding_locker_name"] or card["holding_locker"])
                if card["holding_locker"] not in (None, self.locker_id)
                else None
            ),
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

    # --- enrolment ------------------------------------------------------------

    def begin_enrolment(self, command_id: int, pupil_id: int, actor: str, now: datetime) -> None:
        """Start waiting for ``pupil_id``'s new card (see :mod:`kiosk.locker.enrolment`)."""
        with self._mutex:
            self.enrolment.begin(command_id, pupil_id, actor, now)

    def _enrol(self, uid: str, now: datetime) -> TapOutcome:
        pending = self.enrolment.pending
        assert pending is not None  # wants() said so, under the mutex
        enrolled = self.enrolment.enrol(uid, now)
        if enrolled:
            self._remember_tap(uid, now)  # so holding the card on does not also deposit
        decision = Decision(Action.IGNORE, reason="enrol")
        return TapOutcome(uid, decision, pupil_id=pending.pupil_id, enrolled=enrolled)

    def finish_enrolment(self, now: datetime) -> PendingEnrolment | None:
        """Return the enrolment if it has a result or has expired, and clear it."""
        with self._mutex:
            return self.enrolment.finish(now)

    # --- office ---------------------------------------------------------------

    def override(
        self, *, actor: str, reason: str, bay: int | None, seconds: float, now: datetime
    ) -> str:
        """Emergency unlock of one bay (or all with ``bay=None``), recorded first."""
        with self._mutex:
            return self.office.override(
                actor=actor, reason=reason, bay=bay, seconds=seconds, now=now
            )

    def forced_door(self, bay: int) -> None:
        """A door opened while its lock was locked (called from a gpiozero thread)."""
        self.office.forced_door(bay)
