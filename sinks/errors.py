"""Sink errors, and the one place where downstream (Redis, ClickHouse) failures are sorted.

Three tuples of exception types say what a failure means:

- operational: the service did not answer (connection refused, timeout) — retry as is;
- invalidating: state we hold is stale (the Redis script cache was flushed, a table or
  database is gone) — reset it (re-run `setup()`), then retry;
- irrecoverable: the service refused the data itself — retrying cannot help, so the batch is
  rejected with the reason and goes to `credit.rejected` (DESIGN.md "Nothing is lost").

Overload (Redis out of memory, ClickHouse "too many parts") is neither: it is a typed
`Backpressure(retry_after=…)` signal so the caller slows down instead of a sleep hidden here.
Configuration errors (authentication, permissions) are deliberately in none of the tuples:
they propagate unchanged and stop the worker loudly, rather than rejecting good records.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import redis.exceptions as redis_errors
from clickhouse_connect.driver import exceptions as ch_errors

from schemas.errors import CreditSyncError, ServiceUnavailable

ErrorKind = Literal["backpressure", "operational", "invalidating", "irrecoverable"]

OPERATIONAL_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.TryAgainError,
    ch_errors.OperationalError,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)
INVALIDATING_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.NoScriptError,  # SCRIPT FLUSH or a restart without persistence
    redis_errors.ReadOnlyError,  # we are talking to a replica after a failover
)
IRRECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.DataError,
    redis_errors.ResponseError,
    ch_errors.DataError,
    ch_errors.ProgrammingError,
    ch_errors.DatabaseError,
    ValueError,
    TypeError,
)
# Configuration problems: never retried, never turned into rejected records.
CONFIGURATION_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.AuthenticationError,
    redis_errors.AuthorizationError,
    redis_errors.NoPermissionError,
)

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that change the meaning of a
# DatabaseError: the schema we created is gone (invalidating), or the server is overloaded.
CH_INVALIDATING_CODES = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
CH_BACKPRESSURE_CODES = frozenset({202, 241, 252})  # TOO_MANY_SIMULTANEOUS_QUERIES,
# MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS
_CH_CODE = re.compile(r"Code: (\d+)")

# How long to wait before retrying after an overload signal; the caller may back off further.
DEFAULT_RETRY_AFTER = 1.0


class SinkError(CreditSyncError):
    """Root of the errors raised by sinks/."""


class SinkUnavailable(SinkError, ServiceUnavailable):
    """The store did not answer; retry the same batch (offsets stay uncommitted)."""

    def __init__(self, sink: str, reason: str) -> None:
        super().__init__(f"{sink}: unavailable, retry the batch: {reason}")
        self.sink = sink
        self.reason = reason


class SinkStateReset(SinkUnavailable):
    """State the sink held was stale and has been reset (setup re-run); retry the batch."""


# The one command that rebuilds the publicity index from credit.records (DESIGN.md: the
# topics are the system of record); named wherever a lost index is reported.
REBUILD_PUBLICITY_COMMAND = "creditsync replay --from beginning --target publicity"


class IndexLost(SinkStateReset):
    """The publicity index was recreated empty (Redis lost its data): replay credit.records."""


class SinkRejected(SinkError):
    """The store refused the batch itself; retrying cannot help. Route it to credit.rejected."""

    def __init__(self, sink: str, reason: str) -> None:
        super().__init__(f"{sink}: batch rejected: {reason}")
        self.sink = sink
        self.reason = reason


class Backpressure(SinkError):
    """The store is overloaded: retry the same batch after `retry_after` seconds."""

    def __init__(self, sink: str, retry_after: float, reason: str) -> None:
        super().__init__(f"{sink}: overloaded, retry after {retry_after:g}s: {reason}")
        self.sink = sink
        self.retry_after = retry_after
        self.reason = reason


class RecordMappingError(SinkError, ValueError):
    """One record does not fit the sink's schema: which record, which field, what was expected."""

    def __init__(self, event_id: str, field: str, expected: str, got: object) -> None:
        super().__init__(
            f"record {event_id}: field {field!r}: expected {expected}, got {got!r:.80}"
        )
        self.event_id = event_id
        self.field = field
        self.expected = expected


class ReadOnlyQueryRefused(SinkError):
    """`creditsync sql` was given something other than one read-only SELECT."""

    def __init__(self, sql: str, reason: str, *, message: str | None = None) -> None:
        # `message`: the whole text as another process already wrote it (the server's 403).
        super().__init__(
            message
            or f"refused: {reason} — only one SELECT (with WITH, UNION, JOIN, subqueries) "
            "over the analytics tables runs"
        )
        self.sql = sql
        self.reason = reason


class QueryLimitExceeded(SinkError):
    """An analytics query hit one of its limits (time, rows read or returned, memory)."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(
            f"the query exceeded the analytics limit {limit}; narrow it (WHERE, LIMIT, "
            f"GROUP BY) — ClickHouse: {detail}"
        )
        self.limit = limit
        self.detail = detail


class SearchQueryInvalid(SinkError, ValueError):
    """A name or code search that cannot be answered (too short, empty)."""


def clickhouse_error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code in an exception's message, if there is one."""
    match = _CH_CODE.search(str(exc))
    return int(match.group(1)) if match else None


def classify(exc: BaseException) -> ErrorKind | None:
    """What a downstream failure means; None for errors no tuple covers (let them propagate)."""
    if isinstance(exc, CONFIGURATION_ERRORS):
        return None
    if isinstance(exc, redis_errors.BusyLoadingError | redis_errors.OutOfMemoryError):
        return "backpressure"  # Redis is loading its AOF, or at maxmemory
    if isinstance(exc, ch_errors.DatabaseError):
        code = clickhouse_error_code(exc)
        if code in CH_BACKPRESSURE_CODES:
            return "backpressure"
        if code in CH_INVALIDATING_CODES:
            return "invalidating"
    # Order matters: NoScriptError and ReadOnlyError are ResponseErrors, and the redis
    # ConnectionError family would otherwise be caught by nothing more specific.
    if isinstance(exc, INVALIDATING_ERRORS):
        return "invalidating"
    if isinstance(exc, OPERATIONAL_ERRORS):
        return "operational"
    if isinstance(exc, IRRECOVERABLE_ERRORS):
        return "irrecoverable"
    return None


@contextmanager
def downstream_errors(sink: str, reset: Callable[[], None]) -> Iterator[None]:
    """Translate a store's exceptions into the sink errors above; `reset` re-runs setup."""
    try:
        yield
    except SinkError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            raise
        reason = f"{type(exc).__name__}: {exc}"
        if kind == "backpressure":
            raise Backpressure(sink, DEFAULT_RETRY_AFTER, reason) from exc
        if kind == "operational":
            raise SinkUnavailable(sink, reason) from exc
        if kind == "invalidating":
            try:
                reset()
            except SinkError:
                raise
            except Exception as reset_exc:
                # The reset itself hit the store: that is an outage, not data to reject.
                raise SinkUnavailable(
                    sink, f"reset after {reason} failed: {type(reset_exc).__name__}: {reset_exc}"
                ) from reset_exc
            raise SinkStateReset(sink, f"state reset after {reason}") from exc
        raise SinkRejected(sink, reason) from exc
