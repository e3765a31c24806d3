"""CPU and memory probes of another process, through psutil (the ``bench`` extra).

psutil is imported only when a probe runs, so a kiosk installed without the
extra still starts; ``phonelocker bench`` calls :func:`require` first and so
says in one line what is missing, before measuring anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.errors import ActionError

MIB = 1024 * 1024


def require() -> None:
    """Raise :class:`ActionError` (a one-line CLI message) if psutil is not installed."""
    _psutil()


def _psutil() -> Any:
    try:
        import psutil
    except ModuleNotFoundError:
        raise ActionError(
            "phonelocker bench needs psutil: install the bench extra "
            "(pip install 'phone-locker[bench]')"
        ) from None
    return psutil


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far, in seconds."""
    times = _psutil().Process(pid).cpu_times()
    return times.user + times.system


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak, in MB (MiB).

    psutil has no peak resident size on Linux, so the peak is the kernel's
    ``VmHWM`` from /proc/<pid>/status; where that is missing, the peak is the
    resident size now.
    """
    rss = _psutil().Process(pid).memory_info().rss / MIB
    return {"rss_mb": rss, "peak_rss_mb": _peak_rss_mb(pid) or rss}


def _peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key == "VmHWM":
            return int(rest.split()[0]) / 1024  # kB -> MB
    return None
