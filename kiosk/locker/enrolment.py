"""Enrolling a card at the locker: the office asks, the next right card is assigned.

The office sends an ``enrol`` command; the daemon calls :meth:`Enrolment.begin`
and, while it waits, every tap is first offered to :meth:`Enrolment.wants`.
Only the card being enrolled is taken; every other tap stays an ordinary tap.
The daemon collects the result with :meth:`Enrolment.finish`. The caller
(:class:`kiosk.locker.tap.KioskService`) holds the mutex that serialises taps
and commands; this class keeps no lock of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hardware.locker import LockerHardware
from kiosk.errors import ActionError
from kiosk.policy import is_random_uid
from kiosk.school import pupils as pupil_actions
from kiosk.store.db import Database

ENROL_WINDOW_SECONDS = 60.0


@dataclass
class PendingEnrolment:
    """One enrol command being carried out; ``result`` is set once it ends."""

    command_id: int
    pupil_id: int
    actor: str
    expires_at: datetime
    result: str | None = None
    ok: bool = False
    #: the card assigned, once ``ok`` (the command records it)
    card_uid: str | None = None


class Enrolment:
    """The locker's one pending enrolment (or none)."""

    def __init__(self, db: Database, hardware: LockerHardware, locker_id: str) -> None:
        self.db = db
        self.hardware = hardware
        self.locker_id = locker_id
        self.pending: PendingEnrolment | None = None

    def begin(self, command_id: int, pupil_id: int, actor: str, now: datetime) -> None:
        """Wait up to :data:`ENROL_WINDOW_SECONDS` for the pupil's new card."""
        self.pending = PendingEnrolment(
            command_id, pupil_id, actor, now + timedelta(seconds=ENROL_WINDOW_SECONDS)
        )
        self.hardware.accept()

    def wants(self, uid: str, now: datetime) -> bool:
        """Whether a tap now is the card being enrolled.

        The office may enrol while pupils queue: another pupil's card, or a
        phone or bank card, is a tap like any other (hand-in, collection,
        refusal) and the enrolment keeps waiting for the new card.
        """
        pending = self.pending
        if pending is None or pending.result is not None or now >= pending.expires_at:
            return False
        if is_random_uid(uid):
            return False
        with self.db.session() as session:
            card = pupil_actions.active_card(session, uid)
        return card is None or card.pupil_id == pending.pupil_id

    def enrol(self, uid: str, now: datetime) -> bool:
        """Assign ``uid`` to the pending pupil (after :meth:`wants`); True if assigned.
        Either way the enrolment has its result and the pupil sees it (green or red)."""
        pending = self.pending
        assert pending is not None, "enrol() without a pending enrolment"
        with self.db.session() as session:
            try:
                pupil = pupil_actions.get_pupil(session, pending.pupil_id)
                pupil_actions.assign_card(
                    session, pupil, uid, actor=pending.actor, locker_id=self.locker_id,
                    now=now,
                )
                session.commit()
            except ActionError as error:
                session.rollback()
                pending.result, pending.ok = str(error), False
                self.hardware.refuse()
                return False
            pending.result = f"card {uid} assigned to {pupil.name}"
            pending.ok, pending.card_uid = True, uid
        self.hardware.accept()
        return True

    def finish(self, now: datetime) -> PendingEnrolment | None:
        """Return the enrolment if it has a result or has expired, and clear it."""
        pending = self.pending
        if pending is None:
            return None
        if pending.result is None and now < pending.expires_at:
            return None
        if pending.result is None:
            pending.result, pending.ok = "no card tapped", False
        self.pending = None
        return pending
