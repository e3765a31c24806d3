"""SQLAlchemy 2.0 models: the facts Phone Locker keeps.

All timestamps are naive UTC (``DateTime`` without a zone, portable between
SQLite and PostgreSQL); :func:`utcnow` makes them. Local school time is only
computed when deciding or displaying.

``Event`` is append-only: nothing updates or deletes an event except the
retention purge. ``Holding`` is the one piece of derived state (which phones
are in a locker now); it is written in the same transaction as the event
that changes it, so the two cannot disagree.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kiosk.timeutil import utcnow


class Base(DeclarativeBase):
    pass


class Locker(Base):
    __tablename__ = "lockers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    bays: Mapped[list[Bay]] = relationship(
        back_populates="locker", order_by="Bay.number", cascade="all, delete-orphan"
    )


class Bay(Base):
    __tablename__ = "bays"
    __table_args__ = (UniqueConstraint("locker_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    locker: Mapped[Locker] = relationship(back_populates="bays")


class Pupil(Base):
    __tablename__ = "pupils"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: UPN or admission number from the school's MIS: the stable id for re-imports
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(64), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locker_id: Mapped[str | None] = mapped_column(ForeignKey("lockers.id", ondelete="SET NULL"))
    bay: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(DateTime)

    cards: Mapped[list[Card]] = relationship(back_populates="pupil", order_by="Card.issued_at")
    approvals: Mapped[list[Year5Approval]] = relationship(back_populates="pupil")


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        # One active card per UID; revoked cards stay in history.
        Index(
            "uq_cards_active_uid",
            "uid",
            unique=True,
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    pupil: Mapped[Pupil] = relationship(back_populates="cards")


class Year5Approval(Base):
    """A senior leadership team agreement that a Year 5 pupil may bring a phone."""

    __tablename__ = "year5_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    approved_by: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    pupil: Mapped[Pupil] = relationship(back_populates="approvals")


class EarlyRelease(Base):
    """The office has authorised a pupil to collect before collection time on one day."""

    __tablename__ = "early_releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    on_date: Mapped[date] = mapped_column(Date)
    by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PupilException(Base):
    """An agreed exception: the pupil keeps their phone (medical, SEND, young carer, other).

    In force from ``starts_on`` to ``until`` inclusive (open-ended if None) unless
    ended early (``ended_at``); see :func:`kiosk.policy.exception_in_force`.
    ``review_on`` is when the school agreed to look at it again.
    """

    __tablename__ = "pupil_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    #: medical | send | young_carer | other
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    agreed_by: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(Text)
    pupil: Mapped[Pupil] = relationship()


class StaffArrangement(Base):
    """A staff special arrangement the headteacher agreed (e.g. a phone for MFA codes).

    ``staff_name`` is free text: the policy's staff are not all dashboard users.
    """

    __tablename__ = "staff_arrangements"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_name: Mapped[str] = mapped_column(String(200), index=True)
    arrangement: Mapped[str] = mapped_column(Text)
    agreed_by: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(Text)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # teacher | office | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: where email notices go (a teacher's: their classes'); None: no email
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    classes: Mapped[list[StaffClass]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class StaffClass(Base):
    """A class a teacher may see."""

    __tablename__ = "staff_classes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    class_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[StaffUser] = relationship(back_populates="classes")


class WebSession(Base):
    """A dashboard sign-in (or an anonymous visitor's CSRF token), kept server-side.

    ``id`` is the SHA-256 (hex) of the random token in the cookie, so a copy of
    this table does not hold live cookies. Deleting a row ends that session at
    once: that is how a password change, reset, disable or role change signs
    the account out elsewhere (see :func:`kiosk.school.staff.end_sessions`).
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    #: the Flask session's contents (Flask's tagged JSON)
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: refreshed at most once a minute, so the dashboard's polling does not write
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    #: created_at plus the longest a session may last; purged after it
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Command(Base):
    """A request from the dashboard or CLI that the kiosk carries out.

    ``kind`` is ``unlock`` (``bay`` None means every bay; ``locker_id`` None
    means every locker) or ``enrol`` (assign the next tapped card to
    ``pupil_id``). ``status`` moves pending -> running -> done | failed |
    expired, and ``result`` says what happened in words staff can read.
    """

    __tablename__ = "commands"
    __table_args__ = (Index("uq_commands_central_id", "central_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    locker_id: Mapped[str | None] = mapped_column(String(64))
    bay: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None]
    pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupils.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[str | None] = mapped_column(Text)
    card_uid: Mapped[str | None] = mapped_column(String(20))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: on a kiosk with a central database: the command's id there (None: asked here)
    central_id: Mapped[int | None] = mapped_column(Integer)
    #: when this command's outcome was sent to the central database
    synced_at: Mapped[datetime | None] = mapped_column(DateTime)


class Event(Base):
    """An append-only fact: a tap decided, a staff action, a door forced."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_pupil_at", "pupil_id", "at"),
        # partial: a tap has no uid until the sync worker gives it one (off the tap path)
        Index("uq_events_uid", "uid", unique=True, sqlite_where=text("uid IS NOT NULL"),
              postgresql_where=text("uid IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the id this event keeps on every database it reaches (32 hex digits), so that
    #: a kiosk sending it to the central database twice stores it once. Staff actions
    #: get one when written; taps and bulk writers get one from the sync worker
    #: before it is first sent (kiosk/sync/up.py); None on a standalone locker's taps.
    uid: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupils.id", ondelete="SET NULL"))
    card_uid: Mapped[str | None] = mapped_column(String(20))
    locker_id: Mapped[str | None] = mapped_column(String(64))
    bay: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    #: the kiosk's clock was unsynchronised or had gone backwards when recorded
    clock_suspect: Mapped[bool] = mapped_column(Boolean, default=False)
    #: JSON for the few kinds that need more than a reason; ``open_all``: the phones
    #: in the lockers at that moment (pupil ids, not names, so a purge leaves none behind)
    details: Mapped[str | None] = mapped_column(Text)


class Holding(Base):
    """A phone in a locker now: one row per pupil, kept with the deposit/collect event."""

    __tablename__ = "holdings"

    pupil_id: Mapped[int] = mapped_column(
        ForeignKey("pupils.id", ondelete="CASCADE"), primary_key=True
    )
    locker_id: Mapped[str] = mapped_column(String(64))
    bay: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))


class KioskStatus(Base):
    """The heartbeat a kiosk writes every few seconds, read by the web and CLI."""

    __tablename__ = "kiosk_status"

    locker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: set when the kiosk shut down cleanly; cleared by the next heartbeat
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)
    reader_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    reader_device: Mapped[str | None] = mapped_column(String(100))
    emulated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: JSON: {"bays": [{"bay", "locked", "door"}], "leds": {...}}
    hardware_json: Mapped[str] = mapped_column(Text, default="{}")
    last_tap_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_tap_uid: Mapped[str | None] = mapped_column(String(20))
    last_tap_result: Mapped[str | None] = mapped_column(String(200))
    clock_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    #: with a central database (kiosk/sync): when the kiosk last exchanged changes
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: events recorded here and not yet on the central database (as last counted)
    pending_events: Mapped[int | None] = mapped_column(Integer)
    #: since when the central database has been unreachable (None: reachable)
    offline_since: Mapped[datetime | None] = mapped_column(DateTime)
    sync_error: Mapped[str | None] = mapped_column(Text)


class CalendarDay(Base):
    """A day that differs from ``[policy]``: school closed, or collection at another time.

    Term dates, INSET days, early finishes, and a "closing early" today (a row
    with ``collect_from`` set to the minute the office closed the school).
    """

    __tablename__ = "calendar_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    on_date: Mapped[date] = mapped_column(Date, unique=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: local school time phones may be collected from; None on a closed day
    collect_from: Mapped[time | None] = mapped_column(Time)
    #: set by the office's "school closing early" (snow, heating failure) on the day itself
    closing_early: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Notice(Base):
    """One email in the outbox: a (kind, occasion, address) is sent at most once.

    ``kind`` is ``not_collected``, ``overnight``, ``fault``, ``recovered`` or
    ``alarm``; ``occasion`` says which one (a date, a locker and fault start, an
    event id). The UNIQUE key is what stops a restart re-sending. ``status`` is
    ``pending`` until the server accepts it, then ``sent``; a failed attempt
    keeps it ``pending`` with ``last_error`` and a later ``next_attempt_at``
    (see :mod:`kiosk.notify.outbox`).
    """

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("kind", "occasion", "address", name="uq_notices_occasion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    occasion: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class SyncState(Base):
    """What a kiosk's sync worker remembers (kiosk/sync/state.py): its cursors, the join."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ChangeCounter(Base):
    """One row per table a kiosk copies down; database triggers bump ``version``
    on every write to that table (migration 0006s), so "did anything change?" is
    one small read."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class NotifyState(Base):
    """What ``phonelocker notify`` remembers between runs (event cursor, open faults)."""

    __tablename__ = "notify_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
