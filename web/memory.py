"""The dashboard process's C heap: glibc malloc tuned so a big export hands its memory back.

A whole-year History CSV of a big school allocates and frees hundreds of megabytes of
small objects over a few seconds, in waitress's worker threads. With glibc's defaults
each thread may get its own malloc arena, freed memory stays in the arenas (the trim
threshold rises with every large free: glibc's "dynamic mmap threshold"), and the
process's RSS grows by tens of megabytes with each export and does not come back: on
a Raspberry Pi that is a leak. ``phonelocker bench school`` measures it (the CSV's
"RSS growth" row and "web RSS after 60 s of polling").

:func:`tune_malloc` (called once by :func:`web.server.serve`, before waitress starts
its threads) sets, through ``mallopt``:

- ``M_ARENA_MAX``: few arenas, so the threads share (and reuse) the same free memory;
- ``M_MMAP_THRESHOLD``: a fixed threshold (which also turns off the dynamic one), so
  blocks above it (an export chunk's text, a part's rows) are mmapped and unmapped;
- ``M_TRIM_THRESHOLD``: the top of the heap is given back once this much is free.

:func:`release` (``malloc_trim(0)``) gives back the free pages inside the heap too;
the export calls it when it has finished. Elsewhere than glibc (musl, macOS) both do
nothing. The kiosk's process is not tuned: it makes no such bursts.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from functools import cache

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

#: the values :func:`tune_malloc` sets (measured with ``phonelocker bench school``)
SETTINGS = {
    M_ARENA_MAX: 2,
    M_MMAP_THRESHOLD: 128 * 1024,
    M_TRIM_THRESHOLD: 128 * 1024,
}


@cache
def glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (has ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # pragma: no cover - a Linux without a dynamic C library
        return None
    if not all(hasattr(libc, name) for name in ("gnu_get_libc_version", "mallopt",
                                                   "malloc_trim")):
        return None
    return libc


def tune_malloc(libc: ctypes.CDLL | None = None) -> bool:
    """Apply :data:`SETTINGS` with ``mallopt``; False (nothing done) where not glibc."""
    libc = libc if libc is not None else glibc()
    if libc is None:
        log.debug("not glibc: malloc left as it is")
        return False
    for parameter, value in SETTINGS.items():
        if not libc.mallopt(ctypes.c_int(parameter), ctypes.c_int(value)):
            log.warning("mallopt(%d, %d) refused", parameter, value)
    return True


def release(libc: ctypes.CDLL | None = None) -> bool:
    """Give the C heap's free memory back to the system (``malloc_trim(0)``); False where
    not glibc."""
    libc = libc if libc is not None else glibc()
    if libc is None:
        return False
    libc.malloc_trim(ctypes.c_size_t(0))
    return True
