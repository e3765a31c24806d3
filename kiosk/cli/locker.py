"""``phonelocker kiosk | tap | lockers | override | hw-test``: the locker and its hardware.

The kiosk loop itself is :mod:`kiosk.locker.daemon`; unlocks are queued through
:mod:`kiosk.school.commands` and carried out by the running kiosk.
"""

from __future__ import annotations

import sys

import click

from kiosk.cli import base
from kiosk.cli.base import TEXT, Context, FiniteFloatRange, emit_json, pass_ctx
from kiosk.errors import ActionError


def register(cli: click.Group, command) -> None:
    """Add the locker commands to ``cli`` (``command``: :func:`kiosk.cli.base.command`)."""

    @command(cli, "kiosk")
    @pass_ctx
    def kiosk_command(ctx: Context) -> None:
        """Run the kiosk: card reader, locks, lights, commands and heartbeat."""
        from hardware.errors import HardwareError
        from kiosk.locker.daemon import Kiosk
        from kiosk.locker.stopping import install_stop_signals

        base.setup_logging(ctx.debug)
        config = ctx.config
        database = ctx.database()
        try:
            kiosk = Kiosk(config, database)
        except HardwareError as error:
            click.echo(f"phonelocker: {error}", err=True)
            sys.exit(3)
        install_stop_signals(kiosk.stop)
        kiosk.run()


    # --- tap ------------------------------------------------------------------------


    @command(cli, "tap")
    @click.argument("uid")
    @click.option("--hold", default=0.5, show_default=True, type=FiniteFloatRange(0.05, 60),
                  help="Seconds the card stays on the reader after it is read.")
    @click.option("--timeout", default=5.0, show_default=True, type=FiniteFloatRange(0.5, 120),
                  help="Seconds to wait for the reader to sense the card.")
    @click.option("--wait", default=5.0, show_default=True, type=FiniteFloatRange(0, 120),
                  help="Seconds to wait for the kiosk to record what it did (0: do not wait).")
    @pass_ctx
    def tap(ctx: Context, uid: str, hold: float, timeout: float, wait: float) -> None:
        """Present a virtual card UID to the emulated reader (udp) and say what the kiosk
        did ("handed in: bay 1", "refused: ..."), read from the event it recorded."""
        from hardware.errors import HardwareError
        from hardware.virtual_card import present_card
        from kiosk.school.pupils import normalise_uid
        from kiosk.school.queries import last_event_id

        uid = normalise_uid(uid)
        database = ctx.database() if wait else None
        if database is not None:
            with database.session() as session:
                before = last_event_id(session)  # before the card: the kiosk may be quick
        try:
            present_card(uid, hold=hold, path=ctx.config.reader.device, timeout=timeout)
        except HardwareError as error:
            raise ActionError(str(error)) from error
        click.echo(f"card {uid} read by the reader")
        if database is None:
            return
        outcome = _tap_outcome(database, ctx.config, uid, before, wait)
        if outcome is None:
            raise ActionError(
                f"no answer from the kiosk within {wait:g} s (is it running with this "
                "database? a repeat tap within the debounce time is ignored)")
        click.echo(outcome)

    @command(cli, "lockers")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.option("--forget", "forget_id", metavar="ID",
                  help="Remove a locker that no longer exists (its events are kept).")
    @click.option("--by", "actor", help="Who (with --forget; default: the system user).")
    @pass_ctx
    def lockers(ctx: Context, as_json: bool, forget_id: str | None, actor: str | None) -> None:
        """Each locker: online, reader, bays locked/unlocked, doors."""
        from kiosk.school.queries import locker_states

        if forget_id is not None:
            from kiosk.school.commands import forget_locker

            with ctx.database().session() as session:
                forget_locker(session, forget_id, actor=base.actor(actor), now=ctx.now)
                session.commit()
            click.echo(f"locker {forget_id} forgotten")
            return

        with ctx.database().session() as session:
            rows = locker_states(session, ctx.config, now=ctx.now)
        if as_json:
            emit_json(rows)
            return
        if not rows:
            click.echo("no lockers yet: start 'phonelocker kiosk'")
        for row in rows:
            state = "online" if row["online"] else "OFFLINE"
            reader = "reader ok" if row["reader_ok"] else "READER FAULT"
            click.echo(f"{row['id']} ({row['name']}): {state}, {reader}")
            for bay in row["bays"]:
                lock = {True: "locked", False: "UNLOCKED", None: "unknown"}[bay["locked"]]
                click.echo(f"  bay {bay['bay']}: {lock}, door {bay['door']}")

    @command(cli, "override")
    @click.option("--reason", required=True, type=TEXT, help="Why (recorded in the audit log).")
    @click.option("--by", "actor", required=True, type=TEXT, help="Who is doing this.")
    @click.option("--locker", "locker_id", type=TEXT, help="Locker id (default: every locker).")
    @click.option("--bay", type=click.IntRange(1, 999), help="Bay number (default: every bay).")
    @click.option("--seconds", default=10.0, show_default=True, type=FiniteFloatRange(1, 600),
                  help="How long to hold the lock open.")
    @click.option("--wait", default=5.0, show_default=True, type=FiniteFloatRange(0, 60),
                  help="Seconds to wait for the kiosk to confirm.")
    @click.option("--all", "open_every_bay", is_flag=True,
                  help="Evacuation: every bay of every locker; lists whose phones were inside.")
    @pass_ctx
    def override(ctx: Context, reason: str, actor: str, locker_id: str | None, bay: int | None,
                 seconds: float, wait: float, open_every_bay: bool) -> None:
        """Emergency unlock, carried out by the running kiosk and audited."""
        from kiosk.school.commands import kiosk_online, queue_unlock, wait_for

        if not reason.strip() or not actor.strip():
            raise ActionError("--reason and --by must not be empty")
        if open_every_bay and (locker_id is not None or bay is not None):
            raise click.UsageError(
                "--all opens every bay of every locker: leave out --locker/--bay")
        from kiosk.inputs import check_bay
        from kiosk.school.pupils import known_bays

        database = ctx.database()
        max_age = ctx.config.web.offline_after_seconds
        held: list[dict] = []
        with database.session() as session:
            check_bay(bay, known_bays(session, ctx.config), what="--bay")
            if not kiosk_online(session, locker_id, max_age=max_age, now=ctx.now):
                raise ActionError("kiosk offline: no fresh heartbeat. Use the locker's key.")
            if open_every_bay:
                from kiosk.school.evacuation import held_list, open_all

                opened = open_all(session, actor=actor, reason=reason, seconds=seconds,
                                  now=ctx.now)
                commands, held = opened.commands, held_list(session, opened.event)
            else:
                commands = queue_unlock(
                    session, actor=actor, reason=reason, locker_id=locker_id, bay=bay,
                    seconds=seconds, now=ctx.now,
                )
            if not commands:
                raise ActionError("no lockers are registered yet")
            session.commit()
            ids = [c.id for c in commands]
        results = wait_for(database, ids, wait)
        if open_every_bay:
            click.echo(f"phones in the lockers when opened ({len(held)}): hand back to")
            for row in held:
                click.echo(f"  {row['locker_name']}, bay {row['bay']}: {row['name']}"
                           + (f" ({row['class']})" if row["class"] else ""))
        failed = False
        for command_row in results:
            if command_row.status == "done":
                click.echo(f"done: {command_row.result}")
            elif command_row.status in ("pending", "running"):
                failed = True
                click.echo(f"{command_row.locker_id}: kiosk offline "
                           f"(not carried out in {wait:g} s)", err=True)
            else:
                failed = True
                click.echo(f"{command_row.locker_id}: {command_row.status}: {command_row.result}",
                           err=True)
        if failed:
            sys.exit(1)

    @command(cli, "hw-test")
    @click.option("--pulse", default=1.0, show_default=True, type=FiniteFloatRange(0.05, 10),
                  help="Seconds each lock, LED and the buzzer stays on.")
    @click.option("--card-seconds", default=15.0, show_default=True, type=FiniteFloatRange(0, 300),
                  help="Seconds to wait for a card (0: skip the reader).")
    @pass_ctx
    def hw_test(ctx: Context, pulse: float, card_seconds: float) -> None:
        """Pulse each lock, LED and the buzzer in turn, then wait for a card."""
        from hardware.errors import HardwareError
        from kiosk.locker.hwtest import run_hw_test
        from kiosk.school.commands import kiosk_online

        config = ctx.config
        database = ctx.database(check=False)
        try:
            with database.session() as session:
                running = kiosk_online(session, config.locker.id,
                                       max_age=config.web.offline_after_seconds, now=ctx.now)
        except Exception:
            running = False
        if running:
            raise ActionError("the kiosk is running and holds the pins and reader: "
                              "stop it first (systemctl stop phonelocker-kiosk)")
        try:
            uid = run_hw_test(config, echo=click.echo, pulse_seconds=pulse,
                              card_seconds=card_seconds)
        except HardwareError as error:
            raise ActionError(str(error)) from error
        if card_seconds > 0 and uid is None:
            sys.exit(1)


def _tap_outcome(database, config, uid: str, after_id: int, wait: float) -> str | None:
    """The words for the first event the kiosk recorded for card ``uid`` after event
    ``after_id``, polled for up to ``wait`` seconds; None if none came."""
    import time

    from sqlalchemy import select

    from kiosk.reports.words import CollectionTimes, tap_outcome_words
    from kiosk.store.models import Event

    query = (select(Event.kind, Event.bay, Event.reason, Event.at)
             .where(Event.id > after_id, Event.card_uid == uid).order_by(Event.id).limit(1))
    deadline = time.monotonic() + wait
    while True:
        with database.session() as session:
            event = session.execute(query).first()
            if event is not None:
                opens_at = CollectionTimes(session, config).on(event.at)
                return tap_outcome_words(event.kind, event.bay, event.reason, opens_at)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
