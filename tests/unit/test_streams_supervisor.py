"""The worker's supervisor: a failed loop stops the others and names itself; a stop drains."""

from __future__ import annotations

import threading

import pytest

from streams.errors import WorkerCrashed
from streams.runtime.supervisor import Supervisor


class BatchLoop:
    """Takes "batches" until stopped; the batch in hand when the stop comes is committed."""

    def __init__(self) -> None:
        self.committed = 0
        self.started = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self.started.set()
        while not stop.is_set():
            stop.wait(0.01)
            self.committed += 1  # the batch in hand is finished even when stop came meanwhile


class FailingLoop:
    def __init__(self, after: threading.Event) -> None:
        self.after = after

    def run(self, stop: threading.Event) -> None:
        self.after.wait(10)
        raise ConnectionError("broker gone")


class EndingLoop:
    def run(self, stop: threading.Event) -> None:
        return


def test_a_failing_loop_stops_the_others_and_is_raised_with_its_name():
    steady = BatchLoop()
    supervisor = Supervisor([("sink-publicity", steady), ("stages", FailingLoop(steady.started))])
    with pytest.raises(WorkerCrashed) as raised:
        supervisor.run(timeout=30)
    assert str(raised.value) == "loop stages failed: ConnectionError: broker gone"
    assert raised.value.loop == "stages"
    assert supervisor.stop.is_set()
    assert steady.committed >= 1


def test_a_loop_that_ends_unasked_is_a_failure():
    with pytest.raises(WorkerCrashed, match="loop operations failed: RuntimeError: ended unasked"):
        Supervisor([("operations", EndingLoop()), ("sink-clickhouse", BatchLoop())]).run(timeout=30)


def test_a_stop_from_outside_ends_every_loop_after_its_batch():
    loops = [BatchLoop(), BatchLoop()]
    stop = threading.Event()
    supervisor = Supervisor([("a", loops[0]), ("b", loops[1])], stop)

    def stop_when_started() -> bool:
        if all(loop.started.is_set() for loop in loops):
            stop.set()
        return False

    assert supervisor.run(until=stop_when_started, timeout=30) is True
    assert all(loop.committed >= 1 for loop in loops)


def test_until_ends_the_run_and_a_timeout_says_so():
    assert Supervisor([("a", BatchLoop())]).run(until=lambda: True, timeout=30) is True
    assert Supervisor([("a", BatchLoop())]).run(until=lambda: False, timeout=0.2) is False
