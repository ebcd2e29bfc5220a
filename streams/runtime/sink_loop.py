"""One sink's consumer loop: credit.records -> one store, offsets committed after the write.

Each sink (ClickHouse, the Redis publicity index) reads credit.records with a consumer group
of its own, `<app id>-sink-<sink>`, on a thread of its own (streams/runtime/supervisor.py), with
confluent-kafka (the operations loop, streams/operations_stage.py, is one more of these):

* Nothing is acknowledged by a framework behind our back: a batch is `consume`d, written,
  its dead letters are delivered, and only then are its offsets committed, synchronously. A
  kill -9 at any point re-reads from the last commit; the stores' versioned writes make the
  re-read converge.
* One group per sink: a worker with ClickHouse off (several workers sharing partitions, one
  owning chdb) does not take the ClickHouse sink's partitions from the worker that writes
  it, and a Redis outage does not hold ClickHouse back.
* Batches come from librdkafka's fetch queue in C (`consume(num_messages=…)`); the loop never
  holds more than one batch plus the bounded prefetch, so a backlog stays in Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas.codec import decode_enriched
from schemas.dead_letters import Rejection
from schemas.kafka.config import KafkaSettings, client_config
from schemas.kafka.lag import commit_stamp
from schemas.kafka.retry import StopRequested, named_delay, retrying
from schemas.records import EnrichedRecord
from sinks.base import Sink, SinkResult
from sinks.errors import Backpressure, IndexLost, SinkUnavailable
from streams.runtime.messages import Received, ReceivedMessage
from streams.runtime.outputs import Outputs, send_dead_letter
from streams.runtime.shared_decodes import SharedDecodes

log = logging.getLogger(__name__)
# Short enough that a store back after an outage is written to within seconds, long enough
# not to hammer it.
MAX_RETRY_DELAY = 5.0
# A commit refused because the group moved on: the batch was written (idempotently) and its
# partitions' new owner re-reads from the last commit, so the loop goes on.
_REBALANCED = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
}


# The group coordinator is moving or loading (a broker restart): the commit can be retried.
_COORDINATOR_MOVING = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._WAIT_COORD,
    KafkaError.REQUEST_TIMED_OUT,
}


def sink_group(app_group: str, sink_name: str) -> str:
    """The consumer group of one sink: `<prefix><app id>-sink-<sink>`."""
    return f"{app_group}-sink-{sink_name}"


# The stream loops' consumers (stage and sink loops): no auto-commit, from the start.
LOOP_CONSUMER_CONFIG: dict[str, Any] = {
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    # A killed worker's partitions move to the survivors within seconds.
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 2_000,
    # A store down for minutes keeps the loop retrying one batch without polling.
    "max.poll.interval.ms": 3_600_000,
    "queued.max.messages.kbytes": 65_536,
    "fetch.max.bytes": 16 * 1024 * 1024,
    "enable.partition.eof": False,
}


def consumer_config(
    kafka: KafkaSettings, group: str, extra_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    return client_config(kafka, extra_config, defaults=LOOP_CONSUMER_CONFIG, group_id=group)


def take_arrived(consumer: Consumer, most: int, wait: float) -> list[Message]:
    """Up to `most` messages as soon as there is one: the first awaited (at most `wait`
    seconds), the rest only those already fetched. Batches grow with the backlog by
    themselves, and a lone event is not held back to fill one (`consume(n, timeout)`
    waits for n or the timeout)."""
    first = consumer.poll(wait)
    if first is None:
        return []
    return [first, *consumer.consume(most - 1, timeout=0)] if most > 1 else [first]


def next_offsets(messages: list[Message], now: float | None = None) -> list[TopicPartition]:
    """The offsets to commit after `messages`: one past the last of each partition, stamped
    with the time (`now`, default the clock's)."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic(), m.partition())
        last[key] = max(last.get(key, -1), m.offset())
    stamp = commit_stamp(time.time() if now is None else now)
    return [TopicPartition(t, p, o + 1, metadata=stamp) for (t, p), o in last.items()]


def gather(
    consumer: Consumer, most: int, idle: float, longest: float, stop: threading.Event
) -> list[Message]:
    """Up to `most` messages for one large write: the first awaited (at most `idle`
    seconds), then more for as long as they keep coming — until `most`, `longest` seconds
    after the first, a wait of `idle` with none arriving, or `stop`. A steady stream makes
    batches of `longest` seconds; a burst is written `idle` after it ends."""
    batch = consumer.consume(most, timeout=idle)
    deadline = time.monotonic() + longest
    while batch and len(batch) < most and not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        more = consumer.consume(most - len(batch), timeout=min(idle, left))
        if not more:
            break
        batch.extend(more)
    return batch


class MessageSink(Protocol):
    """A sink that takes the consumed messages themselves, undecoded (the operations sink)."""

    def setup(self) -> object: ...

    def write_batch(self, messages: Sequence[ReceivedMessage]) -> SinkResult: ...


# What one batch is: decoded records for a record sink, the messages for a MessageSink.
Batch = list[EnrichedRecord] | list[Message]
BatchObserver = Callable[[Sink | MessageSink, SinkResult, Batch], None]


def write_with_retry(
    sink: Sink | MessageSink, records: Batch, stop: threading.Event
) -> SinkResult | None:
    """Write one batch, retrying operational failures and overload with backoff; None when
    `stop` was set before it could be written (the batch is then not committed).

    Tried at least once: a batch taken just before a stop is written (and then committed),
    as a graceful stop should, instead of being left for the next start to re-read."""
    policy = retrying(
        SINK_RETRIED, stop=stop, maximum=MAX_RETRY_DELAY, delay_of=sink_delay, on_retry=_log_retry
    )
    try:
        return policy(sink.write_batch, records)
    except StopRequested:
        return None


# What a sink write retries: an outage, overload, or state reset (the same batch again).
SINK_RETRIED = (Backpressure, SinkUnavailable)


def sink_delay(exc: BaseException | None) -> float | None:
    """The wait before a sink write is retried: overload names it; a lost index is retried
    at once; an outage backs off (None: the policy's exponential backoff)."""
    if isinstance(exc, IndexLost):
        return 0.0
    return named_delay(exc)


def _log_retry(exc: BaseException | None, delay: float) -> None:
    if isinstance(exc, IndexLost):
        # Not a passing outage: what the index held before is gone until the operator
        # replays credit.records. New batches keep flowing into the recreated index.
        log.error("%s; retrying the same batch", exc)
    else:
        log.warning("%s; retrying the same batch in %.1fs", exc, delay)


@dataclass
class SinkLoop:
    """credit.records into one sink; `run` blocks until `stop` is set or a failure raises."""

    sink: Sink | MessageSink
    topics: list[str]
    group: str
    kafka: KafkaSettings
    rejected_topic: str
    batch_size: int
    flush_seconds: float
    on_batch: BatchObserver | None = None
    # True: a batch is whatever has arrived (the publicity index, where the public waits);
    # False: up to batch_size or flush_seconds (ClickHouse wants few, large inserts).
    eager: bool = False
    # Set (not eager): a batch gathers while records keep coming, up to this many seconds
    # after its first (`gather`): each ClickHouse insert costs ~0.2 s of CPU in its
    # materialized views whatever its size, and ClickHouse is not on the path the public
    # waits on (the publicity index is).
    gather_seconds: float | None = None
    # Shared with the other sink loops of the process, so each record is decoded once; None:
    # the sink takes the messages themselves (the operations sink reads their topics).
    decodes: SharedDecodes | None = field(default_factory=lambda: SharedDecodes(1, decode_enriched))
    batches: int = 0

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer(consumer_config(self.kafka, self.group))
        out = Outputs(self.kafka, f"{self.group}-dead-letters")
        consumer.subscribe(list(self.topics))
        try:
            while not stop.is_set():
                if self.eager:
                    messages = take_arrived(consumer, self.batch_size, self.flush_seconds)
                elif self.gather_seconds is not None:
                    messages = gather(
                        consumer, self.batch_size, self.flush_seconds, self.gather_seconds, stop
                    )
                else:
                    messages = consumer.consume(self.batch_size, timeout=self.flush_seconds)
                batch = [m for m in messages if usable(m)]
                if batch and self._write(batch, out, stop):
                    commit_offsets(consumer, next_offsets(batch), stop)
                    self.batches += 1
        finally:
            out.close()
            consumer.close()

    def _write(self, messages: list[Message], out: Outputs, stop: threading.Event) -> bool:
        records = messages if self.decodes is None else self.decodes.records(messages)
        result = write_with_retry(self.sink, records, stop)
        if result is None:
            return False
        if self.on_batch is not None:
            self.on_batch(self.sink, result, records)
        by_event = {}
        if result.rejected:
            # A sink given the messages themselves names refusals by event id too (rare).
            decoded = (
                records if self.decodes is not None else map(decode_enriched, values(messages))
            )
            by_event = {r["event_id"]: m for r, m in zip(decoded, messages, strict=True)}
        origin = f"sinks.{type(self.sink).__name__}"
        for refused in result.rejected:
            rejection = Rejection(refused.reason_code, None, refused.reason, "sink", origin)
            send_dead_letter(
                out, self.rejected_topic, Received.of(by_event[refused.event_id]), rejection,
                event_id=refused.event_id,
            )  # fmt: skip
        out.flush_blocking()
        return True


def values(messages: list[Message]) -> list[bytes]:
    return [m.value() or b"" for m in messages]


def commit_offsets(
    consumer: Consumer, offsets: list[TopicPartition], stop: threading.Event
) -> None:
    """Commit synchronously; a broker restarting (coordinator moving or loading) is waited
    out, since the batch is written and only its offsets are still to be kept."""

    def commit() -> None:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() not in _REBALANCED:
                raise
            log.warning("commit refused (%s): rebalanced, the new owner re-reads", err)

    def on_retry(exc: BaseException | None, delay: float) -> None:
        log.warning("commit failed (%s); retrying in %.1fs", exc, delay)

    policy = retrying(
        _commit_retriable, stop=stop, initial=0.2, maximum=MAX_RETRY_DELAY, on_retry=on_retry
    )
    try:
        policy(commit)
    except StopRequested:
        return  # stopping: the batch is re-read from the last commit, idempotently


def _commit_retriable(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException):
        return False
    err = exc.args[0]
    return not err.fatal() and (err.retriable() or err.code() in _COORDINATOR_MOVING)


def usable(message: Message) -> bool:
    err = message.error()
    if err is None:
        return True
    if err.fatal():
        raise KafkaException(err)
    # Informational (a partition's end, a broker reconnecting): librdkafka recovers itself.
    if err.code() != KafkaError._PARTITION_EOF:
        log.warning("records consumer: %s", err)
    return False
