"""Bounded reads of topics for operator commands: from a time (or the start) to the end
offsets as they were when the read began, without a consumer group's committed offsets.

Partitions are assigned directly (`assign`, never `subscribe`) and nothing is committed, so
a read never joins, rebalances or moves the workers' consumer groups; the group id is a
fresh one only because librdkafka wants one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from creditsync.ops.errors import ReadStalled, TopicMissing
from schemas.kafka.config import KafkaSettings, client_config

META_TIMEOUT = 10.0
# A bounded read that receives nothing for this long while offsets remain is reported,
# naming the partitions, instead of hanging an operator's terminal.
IDLE_LIMIT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets [start, end) of one partition to read."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


def clamp_range(
    topic: str, partition: int, low: int, high: int, start: int | None, end: int | None
) -> PartitionRange:
    """The range to read given the watermarks [low, high) and the offsets a time lookup gave
    (None or negative: no message at or after that time, i.e. the end)."""
    first = high if start is None or start < 0 else min(max(start, low), high)
    last = high if end is None or end < 0 else min(max(end, first), high)
    return PartitionRange(topic, partition, first, last)


def ops_consumer(kafka: KafkaSettings, purpose: str, **extra: Any) -> Consumer:
    """A consumer that commits nothing and belongs to no group the workers use."""
    return Consumer(
        client_config(
            kafka,
            extra,
            defaults={
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
            },
            group_id=f"creditsync-ops-{purpose}-{uuid.uuid4().hex[:8]}",
        )
    )


def partitions_of(consumer: Consumer, topics: Iterable[str]) -> list[tuple[str, int]]:
    """(topic, partition) of each topic; TopicMissing names a topic the broker lacks."""
    metadata = consumer.list_topics(timeout=META_TIMEOUT)
    out = []
    for topic in topics:
        meta = metadata.topics.get(topic)
        if meta is None or meta.error is not None:
            raise TopicMissing(
                f"topic {topic} does not exist on {metadata.orig_broker_name or 'the broker'}"
                " (run `creditsync up`, or check CREDITSYNC_TOPIC_PREFIX)"
            )
        out += [(topic, p) for p in sorted(meta.partitions)]
    return out


def partition_ranges(
    consumer: Consumer,
    topics: Sequence[str],
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[PartitionRange]:
    """For each partition: from the first offset at or after `start_ms` (None: the start)
    to the first at or after `end_ms` (None: the current end)."""
    parts = partitions_of(consumer, topics)
    if not parts:
        return []
    watermarks = {
        tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=META_TIMEOUT, cached=False)
        for tp in parts
    }

    def lookup(ms: int | None) -> dict[tuple[str, int], int | None]:
        if ms is None:
            return dict.fromkeys(parts)
        found = consumer.offsets_for_times(
            [TopicPartition(t, p, ms) for t, p in parts], timeout=META_TIMEOUT
        )
        return {(tp.topic, tp.partition): tp.offset for tp in found}

    starts = lookup(start_ms) if start_ms else {tp: watermarks[tp][0] for tp in parts}
    ends = lookup(end_ms)
    return [clamp_range(t, p, *watermarks[(t, p)], starts[(t, p)], ends[(t, p)]) for t, p in parts]


def read_ranges(
    consumer: Consumer,
    ranges: Sequence[PartitionRange],
    *,
    batch: int = 500,
    on_progress: Callable[[int], None] | None = None,
    idle_limit: float = IDLE_LIMIT_SECONDS,
) -> Iterator[list[Message]]:
    """Batches of messages of the given ranges, each partition read up to its end offset."""
    todo = {(r.topic, r.partition): r for r in ranges if r.size}
    if not todo:
        return
    consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in todo.values()])
    idle = 0.0
    try:
        while todo:
            messages = consumer.consume(batch, timeout=1.0)
            out: list[Message] = []
            for message in messages:
                if message.error() is not None:
                    raise KafkaException(message.error())
                key = (message.topic(), message.partition())
                wanted = todo.get(key)
                if wanted is None or message.offset() >= wanted.end:
                    continue
                out.append(message)
                if message.offset() >= wanted.end - 1:
                    del todo[key]
            idle = 0.0 if messages else idle + 1.0
            # Compaction and transaction markers leave gaps: the position, not the last
            # message seen, says whether a partition is done.
            for tp in consumer.position([TopicPartition(t, p) for t, p in list(todo)]):
                key = (tp.topic, tp.partition)
                if tp.offset >= 0 and tp.offset >= todo[key].end:
                    del todo[key]
            if out:
                if on_progress is not None:
                    on_progress(len(out))
                yield out
            if todo and idle >= idle_limit:
                left = ", ".join(
                    f"{t}[{p}] at {todo[(t, p)].start}..{todo[(t, p)].end}" for t, p in todo
                )
                raise ReadStalled(
                    f"no messages for {idle_limit:.0f}s while offsets remain to be read: {left}"
                )
    finally:
        consumer.unassign()


def read_all(
    kafka: KafkaSettings,
    topics: Sequence[str],
    purpose: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Message]:
    """Every message of `topics` in the range, in one list (for small operational topics)."""
    consumer = ops_consumer(kafka, purpose)
    try:
        ranges = partition_ranges(consumer, topics, start_ms, end_ms)
        return [m for chunk in read_ranges(consumer, ranges) for m in chunk]
    finally:
        consumer.close()
