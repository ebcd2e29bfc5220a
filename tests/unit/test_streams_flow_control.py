"""Faust's flow control can strand a paused partition; the worker's timer releases it.

Uses mode's own queue and flow-control event (what Faust's stream channels are), no broker."""

from __future__ import annotations

from types import SimpleNamespace

from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.faust_support import release_stranded_partitions


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
