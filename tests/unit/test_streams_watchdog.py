"""When the stall watchdog says a stream stage has stalled (streams/watchdog.py)."""

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
    assert not detector.observe(offsets, lag=170, recovering=False)
    clock.now = 44.0
    assert not detector.observe(offsets, lag=170, recovering=False)
    clock.now = 45.0
    assert detector.observe(offsets, lag=170, recovering=False)


def test_moving_offsets_no_lag_or_a_table_recovery_are_not_a_stall():
    clock = Clock()
    detector = StallDetector(45.0, clock)
    detector.observe({("t", 0): 1}, lag=10, recovering=False)
    clock.now = 50.0
    assert not detector.observe({("t", 0): 2}, lag=9, recovering=False), "progress"
    clock.now = 100.0
    assert not detector.observe({("t", 0): 2}, lag=0, recovering=False), "caught up"
    clock.now = 150.0
    assert not detector.observe({("t", 0): 2}, lag=5, recovering=True), "restoring tables"
    clock.now = 194.0
    assert not detector.observe({("t", 0): 2}, lag=5, recovering=False)
    clock.now = 196.0
    assert detector.observe({("t", 0): 2}, lag=5, recovering=False)


def test_a_rebalance_that_never_ends_is_a_stall():
    # The observed failure: every member waiting in a rebalance, lag, no commits.
    clock = Clock()
    detector = StallDetector(45.0, clock)
    offsets = {("credit.resolved", 0): 68, ("credit.resolved", 1): 70}
    assert not detector.observe(offsets, lag=900, recovering=False)
    clock.now = 46.0
    assert detector.observe(offsets, lag=900, recovering=False)
