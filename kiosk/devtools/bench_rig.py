"""The bench's rig: a tap-path service on a real database and mock pins, and a kiosk config.

Everything is made in a folder the caller owns (the bench's temporary folder).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.devtools.kiosk_process import run_phonelocker
from kiosk.devtools.ports import free_port

PUPILS = 8
#: long enough never to fire during a run: each tap is relocked by hand, off the clock
BENCH_UNLOCK_SECONDS = 60.0


@dataclass
class TapRig:
    """A kiosk service on a real SQLite file and mock pins, with pupils to tap."""

    service: Any  # KioskService
    hardware: Any  # LockerHardware
    db: Any  # Database
    uids: list[str]

    def close(self) -> None:
        """Release the pins and the database."""
        self.hardware.close()
        self.db.dispose()


def tap_config(workdir: Path, central_url: str | None = None):
    """A one-bay locker where every tap changes state: no grace, no debounce, collect any time.

    ``central_url``: the locker syncs with that central database (``bench sync``).
    """
    from kiosk.config import parse_config

    data: dict[str, Any] = {
        "database": {"url": f"sqlite:///{workdir / 'taps.db'}"},
        "gpio": {"pin_factory": "mock"},
        "locker": {"id": "bench", "name": "Bench locker", "unlock_seconds": BENCH_UNLOCK_SECONDS},
        "policy": {"grace_seconds": 0, "debounce_seconds": 0, "collect_from": "00:00"},
    }
    if central_url is not None:
        data["central"] = {"url": central_url}
    return parse_config(data)


def stamping_pin_class() -> type:
    """A gpiozero ``MockPin`` that notes the ``perf_counter_ns`` at which it goes high."""
    from gpiozero.pins.mock import MockPin

    class StampingMockPin(MockPin):
        energised_ns: int | None = None

        def _change_state(self, value):
            changed = super()._change_state(value)
            if changed and value:
                self.energised_ns = time.perf_counter_ns()
            return changed

    return StampingMockPin


def build_tap_rig(workdir: Path, pupils: int = PUPILS, central_url: str | None = None) -> TapRig:
    """Create the database, the locker, ``pupils`` Year 6 pupils with cards, and the service."""
    from gpiozero.pins.mock import MockFactory

    from kiosk.locker.daemon import build_hardware, register_locker
    from kiosk.locker.tap import KioskService
    from kiosk.school.pupils import add_pupil
    from kiosk.store.db import Database

    config = tap_config(workdir, central_url)
    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    uids = [f"04BE{n:010X}" for n in range(1, pupils + 1)]  # 7-byte UIDs
    with db.session() as session:
        for n, uid in enumerate(uids, start=1):
            add_pupil(session, name=f"Bench Pupil {n}", year=6, class_name="6B",
                      actor="bench", card_uid=uid)
        session.commit()
    hardware = build_hardware(config, pin_factory=MockFactory(pin_class=stamping_pin_class()))
    hardware.close_doors_if_emulated()
    return TapRig(KioskService(config, db, hardware), hardware, db, uids)


def write_kiosk_config(workdir: Path) -> Path:
    """An emulated kiosk config (udp reader, mock pins, SQLite in ``workdir``)."""
    path = workdir / "kiosk.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{workdir / "kiosk.db"}"\n\n'
        f'[reader]\ndevice = "udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}"\n\n'
        '[gpio]\npin_factory = "mock"\n\n'
        '[locker]\nid = "bench"\nname = "Bench locker"\n',
        encoding="utf-8",
    )
    return path


def upgrade_database(config_path: Path) -> None:
    """``phonelocker --config CFG db upgrade``."""
    result = run_phonelocker(config_path, "db", "upgrade", timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"db upgrade failed ({result.returncode}): {result.stderr.strip()}")
