"""The short-lived cache in front of the public dashboard views."""

from __future__ import annotations

import threading

import pytest

from creditsync.ttl_cache import TtlCache

pytestmark = pytest.mark.security


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_reused_until_it_is_ttl_old() -> None:
    clock, calls = Clock(), []
    cache: TtlCache[int] = TtlCache(10.0, clock=clock)

    def compute() -> int:
        calls.append(clock.now)
        return len(calls)

    assert [cache.get("v", compute) for _ in range(3)] == [1, 1, 1]
    clock.now = 9.9
    assert cache.get("v", compute) == 1
    clock.now = 10.0
    assert cache.get("v", compute) == 2
    assert cache.get("other", compute) == 3
    assert calls == [0.0, 10.0, 10.0]


def test_kept_errors_are_raised_again_without_recomputing() -> None:
    clock, calls = Clock(), []
    cache: TtlCache[int] = TtlCache(5.0, keep_errors=(TimeoutError,), clock=clock)

    def failing() -> int:
        calls.append(1)
        raise TimeoutError("view took too long")

    for _ in range(3):
        with pytest.raises(TimeoutError, match="view took too long"):
            cache.get("v", failing)
    assert len(calls) == 1


def test_other_errors_are_not_kept() -> None:
    cache: TtlCache[int] = TtlCache(5.0, keep_errors=(TimeoutError,), clock=Clock())
    calls = []

    def failing() -> int:
        calls.append(1)
        raise KeyError("bug")

    for _ in range(2):
        with pytest.raises(KeyError):
            cache.get("v", failing)
    assert len(calls) == 2


def test_callers_arriving_during_a_computation_wait_for_it() -> None:
    cache: TtlCache[str] = TtlCache(60.0)
    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "rows"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(cache.get("v", slow)))
    first.start()
    assert started.wait(10)
    others = [
        threading.Thread(target=lambda: results.append(cache.get("v", slow))) for _ in range(5)
    ]
    for thread in others:
        thread.start()
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == ["rows"] * 6
    assert len(calls) == 1
