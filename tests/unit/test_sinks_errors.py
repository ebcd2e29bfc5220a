"""Sorting downstream failures into backpressure, operational, invalidating, irrecoverable."""

from __future__ import annotations

import pytest
import redis.exceptions as redis_errors
from clickhouse_connect.driver import exceptions as ch_errors

from sinks.errors import (
    Backpressure,
    SinkRejected,
    SinkStateReset,
    SinkUnavailable,
    classify,
    downstream_errors,
)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (redis_errors.ConnectionError("refused"), "operational"),
        (redis_errors.TimeoutError("slow"), "operational"),
        (ch_errors.OperationalError("connection reset"), "operational"),
        (redis_errors.NoScriptError("NOSCRIPT"), "invalidating"),
        (redis_errors.ReadOnlyError("READONLY"), "invalidating"),
        (ch_errors.DatabaseError("Code: 60. DB::Exception: Unknown table"), "invalidating"),
        (redis_errors.OutOfMemoryError("OOM"), "backpressure"),
        (redis_errors.BusyLoadingError("LOADING"), "backpressure"),
        (ch_errors.DatabaseError("Code: 252. Too many parts"), "backpressure"),
        (ch_errors.DatabaseError("Code: 53. Type mismatch"), "irrecoverable"),
        (redis_errors.ResponseError("WRONGTYPE"), "irrecoverable"),
        (redis_errors.AuthenticationError("bad password"), None),
        (RuntimeError("bug"), None),
    ],
)
def test_classify(exc: Exception, kind: str | None) -> None:
    assert classify(exc) == kind


def _raise(exc: Exception, reset=lambda: None) -> None:
    with downstream_errors("redis", reset=reset):
        raise exc


def test_operational_becomes_unavailable_with_the_cause() -> None:
    with pytest.raises(SinkUnavailable, match=r"redis: unavailable, retry the batch.*refused"):
        _raise(redis_errors.ConnectionError("refused"))


def test_invalidating_resets_then_asks_for_a_retry() -> None:
    resets: list[int] = []
    with pytest.raises(SinkStateReset, match="state reset after NoScriptError"):
        _raise(redis_errors.NoScriptError("NOSCRIPT"), reset=lambda: resets.append(1))
    assert resets == [1]


def test_a_failing_reset_is_an_outage() -> None:
    def reset() -> None:
        raise redis_errors.ConnectionError("down")

    with pytest.raises(SinkUnavailable, match=r"reset after NoScriptError.*failed.*down"):
        _raise(redis_errors.NoScriptError("NOSCRIPT"), reset=reset)


def test_overload_is_backpressure_with_retry_after() -> None:
    with pytest.raises(Backpressure) as info:
        _raise(redis_errors.OutOfMemoryError("OOM command not allowed"))
    assert info.value.retry_after > 0


def test_irrecoverable_rejects_with_reason() -> None:
    with pytest.raises(SinkRejected, match="batch rejected: ResponseError: WRONGTYPE"):
        _raise(redis_errors.ResponseError("WRONGTYPE"))


def test_unclassified_errors_propagate_unchanged() -> None:
    with pytest.raises(redis_errors.AuthenticationError):
        _raise(redis_errors.AuthenticationError("bad password"))
