"""The sink loop's pure parts: which offsets a batch commits, and the retry rule."""

from __future__ import annotations

import threading

import pytest

from sinks.base import SinkResult
from sinks.errors import Backpressure, SinkUnavailable
from streams.runtime import sink_loop
from streams.runtime.sink_loop import next_offsets, sink_group, write_with_retry


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


def test_a_batch_commits_one_past_the_last_offset_of_each_partition():
    batch = [FakeMessage("r", 0, 5), FakeMessage("r", 1, 9), FakeMessage("r", 0, 7)]
    committed = sorted((tp.topic, tp.partition, tp.offset) for tp in next_offsets(batch))
    assert committed == [("r", 0, 8), ("r", 1, 10)]


def test_each_sink_has_a_group_of_its_own():
    assert sink_group("p.creditsync", "clickhouse") == "p.creditsync-sink-clickhouse"
    assert sink_group("p.creditsync", "publicity") != sink_group("p.creditsync", "clickhouse")


class FlakySink:
    name = "FlakySink"

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def write_batch(self, records):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return SinkResult(applied=len(records))


def test_an_unavailable_or_overloaded_sink_gets_the_same_batch_again(monkeypatch):
    monkeypatch.setattr(sink_loop, "MAX_RETRY_DELAY", 0.01)
    sink = FlakySink([SinkUnavailable("redis", "down"), Backpressure("redis", 0.01, "busy")])
    result = write_with_retry(sink, [{"event_id": "e1"}, {"event_id": "e2"}], threading.Event())
    assert sink.calls == 3
    assert result.applied == 2


def test_a_stop_during_an_outage_returns_nothing_so_the_batch_is_not_committed():
    stop = threading.Event()

    class Down(FlakySink):
        def write_batch(self, records):
            stop.set()
            raise SinkUnavailable("redis", "still down")

    assert write_with_retry(Down([]), [{"event_id": "e1"}], stop) is None


def test_other_errors_are_raised_not_retried():
    sink = FlakySink([ValueError("a bug")])
    with pytest.raises(ValueError):
        write_with_retry(sink, [{"event_id": "e1"}], threading.Event())


class FlakyCommits:
    """A consumer whose commits fail with the given errors first."""

    def __init__(self, errors: list[int]) -> None:
        self.errors = errors
        self.committed: list = []

    def commit(self, offsets, asynchronous):
        from confluent_kafka import KafkaError, KafkaException

        assert asynchronous is False
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        self.committed.append(offsets)


def test_a_commit_during_a_broker_restart_is_retried_until_it_is_kept(monkeypatch):
    from confluent_kafka import KafkaError

    monkeypatch.setattr(sink_loop, "MAX_RETRY_DELAY", 0.01)
    consumer = FlakyCommits([KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._TRANSPORT])
    sink_loop.commit_offsets(consumer, ["offsets"], threading.Event())
    assert consumer.committed == [["offsets"]]


def test_a_commit_refused_after_a_rebalance_is_left_to_the_new_owner():
    from confluent_kafka import KafkaError

    consumer = FlakyCommits([KafkaError.ILLEGAL_GENERATION])
    sink_loop.commit_offsets(consumer, ["offsets"], threading.Event())
    assert consumer.committed == []


def test_a_commit_that_cannot_succeed_is_raised():
    from confluent_kafka import KafkaError, KafkaException

    with pytest.raises(KafkaException):
        sink_loop.commit_offsets(
            FlakyCommits([KafkaError.GROUP_AUTHORIZATION_FAILED]), ["o"], threading.Event()
        )


class ScriptedConsumer:
    """consume() hands out the scripted arrivals in turn (then nothing), noting each ask."""

    def __init__(self, *arrivals: int) -> None:
        self.arrivals = list(arrivals)
        self.asked: list[int] = []
        self.offset = 0

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.asked.append(num_messages)
        count = min(num_messages, self.arrivals.pop(0)) if self.arrivals else 0
        batch = [FakeMessage("r", 0, self.offset + i) for i in range(count)]
        self.offset += count
        return batch


def offsets(batch: list[FakeMessage]) -> list[int]:
    return [m.offset() for m in batch]


def test_a_clickhouse_batch_gathers_while_records_keep_coming_and_ends_with_the_stream():
    consumer = ScriptedConsumer(300, 500, 200, 0, 700)
    batch = sink_loop.gather(consumer, 20_000, 1.0, 60.0, threading.Event())
    # Everything of the burst, in order, and nothing of what comes after the quiet spell.
    assert offsets(batch) == list(range(1000))
    assert consumer.asked == [20_000, 19_700, 19_200, 19_000]


def test_a_gathered_batch_stops_at_its_size_and_asks_for_no_more_than_fits():
    consumer = ScriptedConsumer(600, 600, 600)
    batch = sink_loop.gather(consumer, 1000, 1.0, 60.0, threading.Event())
    assert offsets(batch) == list(range(1000))
    assert consumer.asked == [1000, 400]


def test_a_gathered_batch_is_cut_at_its_longest_wait_or_at_a_stop():
    consumer = ScriptedConsumer(10, 10, 10)
    assert offsets(sink_loop.gather(consumer, 1000, 1.0, 0.0, threading.Event())) == list(range(10))
    stop = threading.Event()
    stop.set()
    # What was taken before the stop is returned, to be written and committed.
    assert offsets(sink_loop.gather(consumer, 1000, 1.0, 60.0, stop)) == list(range(10, 20))
    assert sink_loop.gather(ScriptedConsumer(), 1000, 1.0, 60.0, threading.Event()) == []
