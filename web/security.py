"""The secret key file, security headers on every response, and the login rate limiter."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from flask import Flask, Response, request

log = logging.getLogger(__name__)

SECRET_KEY_BYTES = 32

#: No inline script or style anywhere: every script and stylesheet is a file in web/static.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def load_secret_key(path: str | os.PathLike[str]) -> bytes:
    """Read the key from ``path``; create it (0600, random bytes) if it does not exist."""
    file = Path(path)
    try:
        key = file.read_bytes()
    except FileNotFoundError:
        file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(SECRET_KEY_BYTES)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_secret_key(file)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        log.info("created a new secret key in %s (mode 0600)", file)
        return key
    if len(key) < 16:
        raise RuntimeError(f"{file}: the secret key is too short; delete it to make a new one")
    return key


def add_security_headers(response: Response) -> Response:
    """``after_request`` hook: the same headers on pages, JSON, errors and static files."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        # Pages carry pupils' names: keep them out of shared computers' caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def install_security(app: Flask) -> None:
    app.after_request(add_security_headers)


class LoginLimiter:
    """Counts failed logins in a sliding window, per (username, address) and per address.

    A pair is refused after ``max_failures`` failures; an address after
    ``max_per_address`` failures whatever usernames it tried (one machine
    guessing through a staff list). The address is the client's as Flask sees
    it: behind ``[web] trusted_proxy`` waitress sets it from the last
    X-Forwarded-For hop, the one the trusted proxy appended, so a client that
    sends its own rotating X-Forwarded-For is still counted under its real
    address (see :mod:`web.server`).

    In memory, per process, on purpose: a restart forgets the counts, which is
    acceptable for one waitress process on a school LAN (an attacker cannot
    restart it), and failed logins then cost no database write. The table is
    bounded: at most ``max_keys`` keys, the stalest dropped first.
    """

    def __init__(
        self, max_failures: int = 5, window_seconds: float = 300.0, max_keys: int = 10000,
        clock=time.monotonic, max_per_address: int = 20,
    ) -> None:
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window = window_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._failures: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return ("user", username.lower(), address), ("address", address)

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, username: str, address: str) -> bool:
        """True while this pair, or this address, has had too many failures in the window."""
        pair, by_address = self._keys(username, address)
        now = self.clock()
        with self._lock:
            return (len(self._recent(pair, now)) >= self.max_failures
                    or len(self._recent(by_address, now)) >= self.max_per_address)

    def failed(self, username: str, address: str) -> int:
        """Count a failure; return how many this pair has had in the window."""
        now = self.clock()
        counts = []
        with self._lock:
            for key in self._keys(username, address):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                counts.append(len(times))
            while len(self._failures) > self.max_keys:
                stalest = min(self._failures, key=lambda k: self._failures[k][-1])
                del self._failures[stalest]
        return counts[0]

    def succeeded(self, username: str, address: str) -> None:
        """Forget this pair's failures (the address's count stays: it may be guessing)."""
        with self._lock:
            self._failures.pop(self._keys(username, address)[0], None)
