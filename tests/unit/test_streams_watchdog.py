"""When the stall watchdog says a Faust stage has stalled (streams/watchdog.py)."""

from __future__ import annotations

from streams.watchdog import StallDetector


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lag_with_offsets_that_do_not_move_is_a_stall_after_the_threshold():
    clock = Clock()
    detector = StallDetector(45.0, clock)
    offsets = {("credit.resolved", 0): 250}
    assert not detector.observe(offsets, lag=170, assigned=True)
    clock.now = 44.0
    assert not detector.observe(offsets, lag=170, assigned=True)
    clock.now = 45.0
    assert detector.observe(offsets, lag=170, assigned=True)


def test_moving_offsets_no_lag_or_no_partitions_are_not_a_stall():
    clock = Clock()
    detector = StallDetector(45.0, clock)
    detector.observe({("t", 0): 1}, lag=10, assigned=True)
    clock.now = 50.0
    assert not detector.observe({("t", 0): 2}, lag=9, assigned=True), "progress"
    clock.now = 100.0
    assert not detector.observe({("t", 0): 2}, lag=0, assigned=True), "caught up"
    clock.now = 150.0
    assert not detector.observe({("t", 0): 2}, lag=5, assigned=False), "waiting for a rebalance"
    clock.now = 194.0
    assert not detector.observe({("t", 0): 2}, lag=5, assigned=True)
    clock.now = 196.0
    assert detector.observe({("t", 0): 2}, lag=5, assigned=True)
