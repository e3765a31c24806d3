"""The shape of an email address, checked where one is typed (config, accounts).

Pure and dependency-free so that :mod:`kiosk.config` can use it. It checks
shape only (``local@domain.tld``, no spaces, no display name); whether the
mailbox exists is the mail server's business.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def is_address(text: str) -> bool:
    """True if ``text`` (already stripped) looks like ``name@school.example``."""
    return len(text) <= MAX_LENGTH and bool(_ADDRESS.match(text)) and ".." not in text


def clean_address(text: str) -> str:
    """``text`` stripped, or ValueError saying what an address looks like."""
    address = (text or "").strip()
    if not is_address(address):
        raise ValueError(f"{text!r} is not an email address (like office@school.example)")
    return address
