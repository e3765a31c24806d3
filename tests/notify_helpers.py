"""Real SMTP servers for the notify tests, in the test process, and seed data.

:class:`Mailbox` is an aiosmtpd handler that records what it accepts, or
refuses (550), or says it is busy (421), as its ``mode`` says at the time.
:class:`SilentServer` accepts TCP connections and never says a word, so a
client waits for a greeting until its timeout.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from kiosk.config import load_config
from kiosk.devtools.ports import free_port
from kiosk.store.models import Holding, KioskStatus, Locker, Pupil, StaffClass, StaffUser
from kiosk.timeutil import naive_utc

from .conftest import write_config


class Mailbox:
    """An aiosmtpd handler: ``mode`` is "accept", "refuse" (550) or "busy" (421)."""

    def __init__(self) -> None:
        self.mode = "accept"
        self.messages: list[email.message.EmailMessage] = []
        self.refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "refuse":
            self.refused += 1
            return "550 5.1.1 mailbox unavailable"
        if self.mode == "busy":
            self.refused += 1
            return "421 4.3.2 service not available, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    """aiosmtpd's Controller on 127.0.0.1 and a free port, with a :class:`Mailbox`."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port(socket.SOCK_STREAM)
        self.controller = self._controller()

    def _controller(self) -> Controller:
        # A generous start-up wait: the test machine may be busy.
        return Controller(self.mailbox, hostname="127.0.0.1", port=self.port, ready_timeout=30)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.controller.server is not None:
            self.controller.stop()

    def restart(self) -> None:
        """Start again on the same port (a stopped Controller's event loop is closed for good)."""
        self.controller = self._controller()
        self.controller.start()


class SilentServer:
    """Accepts connections and never answers (a mail server that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(connection)

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


def notify_config(directory: Path, port: int, extra: str = ""):
    """A config with [notify] pointing at 127.0.0.1:port, plain SMTP, 5 s timeouts."""
    body = (
        "[notify]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        "starttls = false\n"
        'from = "phonelocker@school.example"\n'
        'office = ["office@school.example"]\n'
        'it = ["it@school.example"]\n'
        "timeout_seconds = 5\n"
        f"{extra}"
    )
    path = write_config(directory, body)
    return path, load_config(path)


def at(text: str) -> datetime:
    """An aware UTC instant from ISO text (tests never read the wall clock for scenarios)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def seed_school(session: Session) -> dict[str, int]:
    """Locker "locker-1" and four pupils: two in 6K, one in 6R, one in 6M."""
    session.add(Locker(id="locker-1", name="Year 6 locker"))
    pupils = {
        "Ada Lovelace": "6K", "Alan Turing": "6K", "Grace Hopper": "6R", "Mary Somerville": "6M",
    }
    ids = {}
    for name, class_name in pupils.items():
        pupil = Pupil(name=name, year=6, class_name=class_name, active=True, locker_id="locker-1")
        session.add(pupil)
        session.flush()
        ids[name] = pupil.id
    session.commit()
    return ids


def hold(session: Session, pupil_id: int, since: datetime, bay: int = 1) -> None:
    session.add(Holding(pupil_id=pupil_id, locker_id="locker-1", bay=bay, since=naive_utc(since)))
    session.commit()


def teacher(
    session: Session, username: str, email_address: str | None, *classes: str,
    active: bool = True,
) -> int:
    user = StaffUser(username=username, password_hash="-", role="teacher", active=active,
                     email=email_address)
    user.classes = [StaffClass(class_name=name) for name in classes]
    session.add(user)
    session.commit()
    return user.id


def heartbeat(session: Session, when: datetime, *, reader_ok: bool = True) -> None:
    status = session.get(KioskStatus, "locker-1")
    if status is None:
        status = KioskStatus(locker_id="locker-1", updated_at=naive_utc(when))
        session.add(status)
    status.updated_at = naive_utc(when)
    status.reader_ok = reader_ok
    status.stopped_at = None
    session.commit()
