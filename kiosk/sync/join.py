"""Joining: a standalone locker's school goes to the central database once.

A locker that ran on its own has pupils, cards, approvals, early releases,
exceptions and a history under its own ids. Given a ``[central] url`` it:

1. matches each of its pupils to the central roll by UPN, else by name and
   class when exactly one central pupil has them; a pupil the central
   database does not have is added to it;
2. adds the cards, approvals, early releases, exceptions and calendar days
   the central database does not have yet (the same fact is never added twice);
3. renumbers its own pupils to the central ids (one local transaction), so
   everything it records from then on, and its history, points at the right
   pupil; its events then go up through the ordinary sync, exactly once.

A pupil that matches several central pupils (same name and class, no UPN)
cannot be joined safely: nothing is written, and the report names them, so
the office can add the UPN on either side. Running it again is harmless:
what was added last time now matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from kiosk.config import Config
from kiosk.store.db import Database
from kiosk.store.events import Kind, new_event_uid
from kiosk.store.models import (
    CalendarDay,
    Card,
    EarlyRelease,
    Event,
    Locker,
    Pupil,
    PupilException,
    Year5Approval,
)
from kiosk.sync import state
from kiosk.sync.central import display_url
from kiosk.sync.mirror import local_write

#: every column that points at a pupil, on the kiosk (renumbered by a join)
PUPIL_REFERENCES = (
    ("cards", "pupil_id"), ("year5_approvals", "pupil_id"), ("early_releases", "pupil_id"),
    ("pupil_exceptions", "pupil_id"), ("commands", "pupil_id"), ("events", "pupil_id"),
    ("holdings", "pupil_id"),
)
_pupils = Pupil.__table__
_cards = Card.__table__


class JoinNeedsAttention(Exception):
    """The join found pupils it cannot match safely; nothing was written."""


def short_error(error: BaseException) -> str:
    """A one-line reason for ``sync status`` (no SQL, no stack)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        text = str(error.orig)
    elif isinstance(error, SQLAlchemyError):
        text = str(error).split("\n")[0]
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())[:300]


@dataclass
class JoinResult:
    joined: bool = False
    already: bool = False
    by_upn: int = 0
    by_name: int = 0
    added: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    cards_added: int = 0
    card_conflicts: list[str] = field(default_factory=list)
    facts_added: int = 0
    renumbered: int = 0

    def summary(self) -> str:
        if self.ambiguous:
            return (f"cannot join the central database: {len(self.ambiguous)} pupil(s) match "
                    f"several central pupils ({'; '.join(self.ambiguous[:5])}); give them a "
                    "UPN here or centrally, then it joins by itself "
                    "(see 'phonelocker sync join --dry-run')")
        if self.already:
            return "already joined"
        text = (f"joined: {self.by_upn} pupil(s) matched by UPN, {self.by_name} by name and "
                f"class, {len(self.added)} added centrally; {self.cards_added} card(s) and "
                f"{self.facts_added} approval(s), release(s), exception(s) or calendar "
                "day(s) added")
        if self.card_conflicts:
            text += (f"; {len(self.card_conflicts)} card(s) not added: "
                     + "; ".join(self.card_conflicts[:5]))
        return text

    def as_dict(self) -> dict:
        return {
            "joined": self.joined, "already": self.already, "matched_by_upn": self.by_upn,
            "matched_by_name": self.by_name, "added": self.added, "ambiguous": self.ambiguous,
            "cards_added": self.cards_added, "card_conflicts": self.card_conflicts,
            "facts_added": self.facts_added, "renumbered": self.renumbered,
            "summary": self.summary(),
        }


def _match(central: Connection, local_pupils: list, result: JoinResult) -> dict[int, int | None]:
    """local id -> central id (None: add it centrally); fills the result's counts."""
    by_upn: dict[str, int] = {}
    by_name: dict[tuple[str, str], list[int]] = {}
    for row in central.execute(select(_pupils.c.id, _pupils.c.external_id, _pupils.c.name,
                                      _pupils.c.class_name)):
        if row.external_id:
            by_upn[row.external_id] = row.id
        by_name.setdefault((row.name.strip().lower(), row.class_name.strip().lower()),
                           []).append(row.id)
    mapping: dict[int, int | None] = {}
    for pupil in local_pupils:
        if pupil.external_id and pupil.external_id in by_upn:
            mapping[pupil.id] = by_upn[pupil.external_id]
            result.by_upn += 1
            continue
        candidates = by_name.get((pupil.name.strip().lower(), pupil.class_name.strip().lower()),
                                 [])
        if pupil.external_id:
            candidates = []  # a UPN the central roll lacks is a pupil it lacks
        if len(candidates) == 1:
            mapping[pupil.id] = candidates[0]
            result.by_name += 1
        elif len(candidates) > 1:
            result.ambiguous.append(f"{pupil.name} ({pupil.class_name})")
        else:
            mapping[pupil.id] = None
    return mapping


def _add_pupils(central: Connection, local_pupils: list, mapping: dict[int, int | None],
                result: JoinResult) -> dict[int, int]:
    known_lockers = set(central.execute(select(Locker.__table__.c.id)).scalars())
    final: dict[int, int] = {}
    for pupil in local_pupils:
        target = mapping.get(pupil.id, "skip")
        if target == "skip":
            continue
        if target is None:
            target = central.execute(_pupils.insert().values(
                external_id=pupil.external_id, name=pupil.name, year=pupil.year,
                class_name=pupil.class_name, active=pupil.active,
                locker_id=pupil.locker_id if pupil.locker_id in known_lockers else None,
                bay=pupil.bay, created_at=pupil.created_at, left_at=pupil.left_at,
            ).returning(_pupils.c.id)).scalar_one()
            result.added.append(f"{pupil.name} ({pupil.class_name})")
        final[pupil.id] = target
    return final


def _add_cards(central: Connection, local: Connection, ids: dict[int, int],
               result: JoinResult) -> None:
    have = {(row.uid, row.pupil_id): row.active for row in central.execute(
        select(_cards.c.uid, _cards.c.pupil_id, _cards.c.active))}
    active_owner = {uid: pid for (uid, pid), active in have.items() if active}
    for card in local.execute(select(_cards).order_by(_cards.c.id)):
        pupil = ids.get(card.pupil_id)
        if pupil is None or (card.uid, pupil) in have:
            continue
        if card.active and active_owner.get(card.uid, pupil) != pupil:
            result.card_conflicts.append(
                f"card {card.uid} is another pupil's card centrally (pupil id "
                f"{active_owner[card.uid]})")
            continue
        central.execute(_cards.insert().values(
            uid=card.uid, pupil_id=pupil, active=card.active, issued_at=card.issued_at,
            revoked_at=card.revoked_at,
        ))
        have[(card.uid, pupil)] = card.active
        if card.active:
            active_owner[card.uid] = pupil
        result.cards_added += 1


#: the facts a join copies, and the columns that say two rows are the same fact
FACTS = (
    (Year5Approval.__table__, ("pupil_id", "approved_at")),
    (EarlyRelease.__table__, ("pupil_id", "on_date")),
    (PupilException.__table__, ("pupil_id", "kind", "starts_on")),
    (CalendarDay.__table__, ("on_date",)),
)


def _add_facts(central: Connection, local: Connection, ids: dict[int, int],
               result: JoinResult) -> None:
    for target, key in FACTS:
        have = {tuple(row) for row in central.execute(select(*[target.c[k] for k in key]))}
        columns = [c.name for c in target.columns if c.name != "id"]
        for row in local.execute(select(target)):
            values = {c: getattr(row, c) for c in columns}
            if "pupil_id" in values:
                if values["pupil_id"] not in ids:
                    continue
                values["pupil_id"] = ids[values["pupil_id"]]
            signature = tuple(values[k] for k in key)
            if signature in have:
                continue
            central.execute(target.insert().values(values))
            have.add(signature)
            result.facts_added += 1


def _renumber(local: Connection, ids: dict[int, int]) -> int:
    """Give the kiosk's pupils their central ids, everywhere they are referred to.

    Through negative ids, so that no two rows ever hold the same key on the way;
    the foreign keys are checked once, at commit (``defer_foreign_keys``).
    """
    moves = [{"old": old, "new": new} for old, new in ids.items() if old != new]
    if not moves:
        return 0
    if local.dialect.name != "sqlite":
        raise JoinNeedsAttention("a kiosk's own [database] must be SQLite to join")
    local.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    for table_name, column in PUPIL_REFERENCES:
        local.execute(
            text(f"UPDATE {table_name} SET {column} = -:new WHERE {column} = :old"), moves
        )
        local.execute(text(f"UPDATE {table_name} SET {column} = -{column} WHERE {column} < 0"))
    local.execute(text("UPDATE pupils SET id = -:new WHERE id = :old"), moves)
    local.execute(text("UPDATE pupils SET id = -id WHERE id < 0"))
    return len(moves)


def _permission_denied(error: DBAPIError) -> bool:
    return "permission denied" in str(error.orig or error).lower()


def _check_may_add(central: Connection) -> None:
    """Fail now, before anything is written, if this role may not add pupils."""
    if central.dialect.name == "postgresql":
        allowed = central.execute(text(
            "SELECT has_table_privilege(current_user, 'pupils', 'INSERT')")).scalar()
        if not allowed:
            raise DBAPIError("check", {}, PermissionError("permission denied for table pupils"))


def join(central: Connection, db: Database, config: Config, *, now: datetime,
         dry_run: bool = False) -> JoinResult:
    """Join this kiosk's school to the central database (see the module docstring).

    Writes centrally in the caller's transaction (the caller commits), then
    renumbers locally. With ``dry_run`` nothing is written anywhere.
    """
    result = JoinResult()
    with db.engine.connect() as local:
        if state.read(local, state.JOINED):
            result.joined = result.already = True
            return result
    with local_write(db.engine) as local:
        local_pupils = local.execute(select(_pupils).order_by(_pupils.c.id)).all()
        try:
            mapping = _match(central, local_pupils, result)
            if local_pupils and not dry_run:
                _check_may_add(central)
        except DBAPIError as error:
            if not _permission_denied(error):
                raise
            raise JoinNeedsAttention(
                f"this locker has {len(local_pupils)} pupil(s) of its own to send up once, and "
                "the kiosks' database role may not add to the roll: run 'phonelocker sync join "
                "--url <the dashboard's database URL>' once (docs/deploy.md)"
            ) from None
        if result.ambiguous or dry_run:
            if dry_run:
                result.added = [f"{p.name} ({p.class_name})" for p in local_pupils
                                if mapping.get(p.id, "x") is None]
            local.rollback()
            return result
        from kiosk.sync.up import register_locker

        register_locker(central, config.locker.id, config.locker.name,
                        [bay.number for bay in config.locker.bays])
        ids = _add_pupils(central, local_pupils, mapping, result)
        _add_cards(central, local, ids, result)
        _add_facts(central, local, ids, result)
        if local_pupils:
            central.execute(Event.__table__.insert().values(
                uid=new_event_uid(), at=now, kind=Kind.SYNC_JOINED.value,
                locker_id=config.locker.id, actor=f"sync ({config.locker.id})",
                clock_suspect=False, reason=result.summary(),
                details=json.dumps({"added": result.added,
                                    "card_conflicts": result.card_conflicts}),
            ))
        # The central writes commit first: were the kiosk to stop now, a second
        # join matches what this one added.
        central.commit()
        result.renumbered = _renumber(local, ids)
        where = display_url(config.central.url) if config.central else "central"
        state.write(local, state.JOINED, f"{where} at {now:%Y-%m-%d %H:%M} UTC", now)
    result.joined = True
    return result

