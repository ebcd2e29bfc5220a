"""A short-lived cache of answers per key, computed once at a time: the dashboard views.

Anyone may load the dashboard, and each view is a full scan under the process-wide chdb
lock; with this cache the views cost at most one query each per `ttl` seconds, however many
callers there are. Failures of the expected kinds are kept as long, so a view that times out
is not retried by every caller in the meantime.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    at: float
    value: T | None
    error: BaseException | None


class TtlCache(Generic[T]):
    """`get(key, compute)`: the answer computed less than `ttl` seconds ago, or a new one.

    Callers asking for the same key while it is computed wait for that answer instead of
    computing it again. Exceptions of the `keep_errors` types are kept like answers (and
    raised again as copies); others pass through and are not kept."""

    def __init__(
        self,
        ttl: float,
        *,
        keep_errors: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._keep_errors = keep_errors
        self._clock = clock
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock(key):
            entry = self._entries.get(key)
            if entry is None or self._clock() - entry.at >= self.ttl:
                entry = self._compute(key, compute)
        if entry.error is not None:
            raise copy.copy(entry.error)
        return entry.value  # type: ignore[return-value]

    def _compute(self, key: Hashable, compute: Callable[[], T]) -> _Entry[T]:
        try:
            entry: _Entry[T] = _Entry(self._clock(), compute(), None)
        except self._keep_errors as exc:
            entry = _Entry(self._clock(), None, exc)
        self._entries[key] = entry
        return entry
