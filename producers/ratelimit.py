"""Per-department token buckets for the HTTP intake: how long a department must wait.

Pure and clock-injected, so tests step time by hand. `allow` answers 0 (go ahead, the
tokens are taken) or the seconds until enough tokens will be there, which the HTTP layer
returns as Retry-After with 429. Nothing is taken from a bucket by a refused request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from producers.errors import BatchTooLarge

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`per_second` records on average, up to `burst` at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError(f"per_second must be a positive number, got {self.per_second!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """One token bucket per department; departments without a limit are never held back."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        default: RateLimit | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._default = default
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        # FastAPI runs sync handlers in a thread pool; a bucket update must not interleave.
        self._lock = threading.Lock()

    def limit_for(self, department: str) -> RateLimit | None:
        return self._limits.get(department, self._default)

    def allow(self, department: str, n: int = 1) -> float:
        """0.0 if `department` may send `n` records now (they are counted), otherwise the
        seconds to wait before the same request would be allowed."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        limit = self.limit_for(department)
        if limit is None:
            return 0.0
        if n > limit.burst:
            raise BatchTooLarge(department, n, limit.burst)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(department)
            if bucket is None:
                bucket = self._buckets[department] = _Bucket(float(limit.burst), now)
            # A clock that steps backwards (it should not) must not mint tokens.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.per_second)
            bucket.updated = now
            if bucket.tokens >= n:
                bucket.tokens -= n
                return 0.0
            return (n - bucket.tokens) / limit.per_second
