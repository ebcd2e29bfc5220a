"""Fewer glibc malloc arenas in a worker process (issue #18: stage state on disk).

glibc gives threads that contend for malloc arenas of their own, up to 8 per core, and keeps
what each arena freed for its own later use. RocksDB's flush and compaction threads and
librdkafka's broker threads allocate and free large buffers on many threads, so a worker
restoring millions of changelog records held ~360 MB at its peak with the default arenas and
~295 MB with one (measured in-process at 1,000,000 enterprises). `MALLOC_ARENA_MAX` does
the same but must be in the environment before the interpreter starts; `mallopt` can be
called from Python, before those threads exist. There is no library for this one call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # glibc's <malloc.h>
DEFAULT_ARENAS = 2


def cap_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Limit glibc's arenas for the threads started from now on; False where it does not
    apply (not glibc) or when MALLOC_ARENA_MAX already decides."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): nothing to limit
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1


def trim_malloc() -> bool:
    """Give the memory glibc's arenas hold free back to the system (`malloc_trim(0)`): after
    a restore, what the changelog's reading and RocksDB's flushes freed. False where it
    does not apply (not glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        malloc_trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True
