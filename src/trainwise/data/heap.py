"""Handing freed memory back to the operating system, on the paths whose memory must stay flat.

A long run makes and frees many short-lived objects: Python objects while listing a folder of
files, arrays while decoding batches, activations while evaluating. The allocators keep what was
freed for reuse (glibc's heap, which fragments; pyarrow's memory pool, which caches), so the
process's resident memory, and with it the memory a forked DataLoader worker starts with, grows
with the number of files although nothing of them is still alive. These calls return it.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import pyarrow


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None on other C libraries (musl, macOS, Windows)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def trim_heap() -> None:
    """Return the free pages of the C heap to the OS (glibc's `malloc_trim(0)`; a no-op
    elsewhere). Costs about a millisecond on a heap of a few hundred MiB, so call it between
    batches or stages, not per row."""
    if (trim := _malloc_trim()) is not None:
        trim(0)


def release_arrow_memory() -> None:
    """Return the memory pyarrow's default pool keeps cached (pandas' `str` columns live there)
    to the OS."""
    pyarrow.default_memory_pool().release_unused()
