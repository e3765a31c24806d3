"""Delivering notices with :mod:`smtplib`: STARTTLS as configured, short timeouts.

Every smtplib or socket error becomes a :class:`~kiosk.notify.outbox.DeliveryError`
that says what happened in words an IT technician can act on. With
``starttls = true`` a server that does not offer STARTTLS is a failure:
nothing is ever sent, or signed in to, in clear text by accident.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from kiosk.config import NotifyConfig
from kiosk.notify.outbox import DeliveryError
from kiosk.store.models import Notice


def build_message(notice: Notice, sender: str, now: datetime) -> EmailMessage:
    """The email for ``notice``: plain text, UTF-8, marked as automatic."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notice.address
    message["Subject"] = notice.subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = make_msgid("notice", domain=sender.rpartition("@")[2])
    # Tells out-of-office replies and mail rules this was sent by a program.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notice.body)
    return message


def read_password(path: str) -> str:
    """The SMTP password: the file's first line. A DeliveryError if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError) as error:
        raise DeliveryError(
            f"cannot read [notify] password_file {path}: {error or 'empty file'}",
            connection=True,
        ) from None


class SmtpTransport:
    """One SMTP session for a run of ``notify``; :meth:`send` delivers one notice."""

    def __init__(self, config: NotifyConfig, now: datetime) -> None:
        self.config = config
        self.now = now
        where = f"{config.host}:{config.port}"
        try:
            self.smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        except smtplib.SMTPConnectError as error:
            raise DeliveryError(f"{where}: refused the connection: {_reply(error)}",
                                connection=True) from None
        except (OSError, smtplib.SMTPException) as error:
            raise self._failure(error, f"{where}: cannot connect") from None
        try:
            if config.starttls:
                self.smtp.starttls(context=ssl.create_default_context())
            if config.username is not None and config.password_file is not None:
                self.smtp.login(config.username, read_password(config.password_file))
        except DeliveryError:
            self.close()
            raise
        except smtplib.SMTPNotSupportedError:
            self.close()
            raise DeliveryError(f"{where}: the server does not offer STARTTLS "
                                "(set starttls = false only for a server on this machine)",
                                connection=True) from None
        except smtplib.SMTPAuthenticationError as error:
            self.close()
            raise DeliveryError(f"{where}: sign-in refused for {config.username}: "
                                f"{_reply(error)}", connection=True) from None
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise self._failure(error, where) from None

    def send(self, notice: Notice) -> None:
        message = build_message(notice, self.config.from_address, self.now)
        try:
            self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            (code, text), = error.recipients.values()
            raise DeliveryError(f"{notice.address} refused: {code} {_text(text)}",
                                connection=code == 421) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise DeliveryError(f"refused: {_reply(error)}",
                                connection=error.smtp_code == 421) from None
        except (OSError, smtplib.SMTPException) as error:
            raise self._failure(error, f"{self.config.host}:{self.config.port}") from None

    def _failure(self, error: Exception, where: str) -> DeliveryError:
        """A connection-level DeliveryError for a socket or smtplib error."""
        # smtplib turns a read that timed out into SMTPServerDisconnected("... timed out").
        if isinstance(error, TimeoutError) or "timed out" in str(error):
            return DeliveryError(f"{where}: no answer within {self.config.timeout_seconds:g} s",
                                 connection=True)
        return DeliveryError(f"{where}: {error or type(error).__name__}", connection=True)

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reply(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_text(error.smtp_error)}"
