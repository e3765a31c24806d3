"""One run of ``phonelocker notify``: find and queue what is due, then send it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from kiosk.config import Config
from kiosk.notify.finder import find_all
from kiosk.notify.outbox import Queued, SendReport, Transport, due, prune, queue, send_due
from kiosk.store.models import Notice


@dataclass
class NotifyReport:
    queued: list[Notice] = field(default_factory=list)
    #: with dry_run: what would be sent now (nothing was)
    would_send: list[Queued] = field(default_factory=list)
    sent: SendReport = field(default_factory=SendReport)
    #: sent notices deleted because they are older than KEEP_SENT
    deleted: int = 0


def default_transport(config: Config, now: datetime) -> Callable[[], Transport]:
    from kiosk.notify.smtp import SmtpTransport

    assert config.notify is not None
    return lambda: SmtpTransport(config.notify, now)


def run_notify(
    session: Session,
    config: Config,
    now: datetime,
    *,
    dry_run: bool = False,
    connect: Callable[[], Transport] | None = None,
) -> NotifyReport:
    """Queue the notices due at ``now`` (aware) and send every due one.

    With ``dry_run`` nothing is written or sent: the report lists what would
    be. ``connect`` opens the mail connection (default: SMTP per ``[notify]``).
    """
    if config.notify is None:
        raise ValueError("[notify] is not configured")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = NotifyReport()
    report.queued = queue(session, find_all(session, config, now), now)
    if dry_run:
        session.flush()
        report.would_send = [
            Queued(n.kind, n.occasion, n.address, n.subject, n.body) for n in due(session, now)
        ]
        report.queued = []  # nothing was queued: it is all rolled back
        session.rollback()
        return report
    session.commit()
    report.sent = send_due(session, now, connect or default_transport(config, now))
    report.deleted = prune(session, now)
    session.commit()
    return report
