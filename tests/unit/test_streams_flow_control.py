"""Faust's flow control can strand a paused partition; the worker's timer releases it.

Uses mode's own queue and flow-control event (what Faust's stream channels are), no broker."""

from __future__ import annotations

from types import SimpleNamespace

from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.faust_support import (
    release_stranded_partitions,
    resume_unfed_partitions,
    unfed_stream_partitions,
)


def _paused_queue(flow: FlowControlEvent, resumed: list[str]) -> ThrowableQueue:
    queue = ThrowableQueue(maxsize=10, flow_control=flow, clear_on_resume=True)

    def drop() -> None:  # one per partition, as Faust's conductor makes them
        resumed.append("tp-0")

    for n in range(10):
        # Faust pauses the partition in on_pressure_high.
        queue.put_nowait_enhanced(n, on_pressure_high=lambda: None, on_pressure_drop=drop)
    return queue


def test_resume_clears_the_queue_but_leaves_its_partition_paused():
    flow, resumed = FlowControlEvent(initially_suspended=False), []
    queue = _paused_queue(flow, resumed)
    flow.resume()  # what Faust does after a rebalance / recovery
    assert queue.qsize() == 0
    assert resumed == [], "mode fires the callback only from a later get()"


def test_the_timer_resumes_the_partition_of_an_emptied_queue():
    flow, resumed = FlowControlEvent(initially_suspended=False), []
    queue = _paused_queue(flow, resumed)
    flow.resume()
    app = SimpleNamespace(flow_control=flow)
    assert release_stranded_partitions(app) == 1
    assert resumed == ["tp-0"]
    assert release_stranded_partitions(app) == 0, "released once"
    assert queue.qsize() == 0


def test_a_queue_still_full_is_left_to_its_reader():
    flow, resumed = FlowControlEvent(initially_suspended=False), []
    _paused_queue(flow, resumed)
    assert release_stranded_partitions(SimpleNamespace(flow_control=flow)) == 0
    assert resumed == []


class _Consumer:
    """The parts of Faust's consumer the unfed-partition check reads and resumes."""

    def __init__(self, assigned: set, active: set) -> None:
        self.assigned, self.active = assigned, set(active)
        self._paused_partitions: set = set()
        self._buffered_partitions = assigned - active

    def assignment(self) -> set:
        return self.assigned

    def _get_active_partitions(self) -> set:
        return self.active

    def _is_changelog_tp(self, tp: str) -> bool:
        return tp.endswith("-changelog")

    def resume_partitions(self, tps: set) -> None:
        self.active |= tps


def _app(consumer: _Consumer, *, rebalancing: bool = False, queue_size: int = 0):
    completed = SimpleNamespace(is_set=lambda: True)
    queue = SimpleNamespace(qsize=lambda: queue_size, pressure_drop_size=4)
    return SimpleNamespace(
        consumer=consumer,
        rebalancing=rebalancing,
        in_recovery=False,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=completed)),
        flow_control=SimpleNamespace(_queues=[queue]),
    )


def test_a_stream_partition_unfed_twice_with_nothing_holding_it_back_is_resumed():
    consumer = _Consumer({"resolved-0", "resolved-1", "items-changelog"}, {"resolved-0"})
    app = _app(consumer)
    resumed, seen = resume_unfed_partitions(app, set())
    assert (resumed, seen) == (0, {"resolved-1"}), "one reading may be Faust's own pause"
    resumed, seen = resume_unfed_partitions(app, seen)
    assert resumed == 1 and "resolved-1" in consumer.active
    assert "resolved-1" not in consumer._buffered_partitions


def test_backpressure_or_a_rebalance_is_left_to_faust():
    consumer = _Consumer({"resolved-0", "resolved-1"}, {"resolved-0"})
    assert unfed_stream_partitions(_app(consumer, queue_size=9)) == set()
    assert unfed_stream_partitions(_app(consumer, rebalancing=True)) == set()
