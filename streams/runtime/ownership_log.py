"""credit.ownership read whole into a small map, by workers and the HTTP server alike.

The choice: the log is tiny (one event per departmental merger), so each reader keeps all of
it in a `Reassignments` map, read with a consumer that is assigned the topic's partitions
(no group: nothing committed, no rebalance) and caught up to the high watermark on each
`refresh` — every few seconds (`tick`), and at once before a refusal of a record emitted
after the last refresh (`refresh_if_older`). So a record is refused only by a map that holds
every reassignment published before the record was emitted, and the decision, which uses the
reassignments' own times (streams/rules/ownership.py), is the same in a replay.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from schemas.kafka.config import KafkaSettings, client_config
from streams.errors import StreamsError
from streams.rules.ownership import Reassignment, Reassignments
from streams.runtime.messages import ReceivedMessage

META_TIMEOUT = 10.0
REFRESH_SECONDS = 5.0


class OwnershipLogError(StreamsError):
    """credit.ownership holds a message that is not a reassignment: it is written only by
    `creditsync owner reassign`, so the log is damaged and decisions cannot be trusted."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OwnershipLog:
    """The reassignments on `topic`, kept current; an `OwnerLookup` for streams.rules.items."""

    def __init__(self, kafka: KafkaSettings, topic: str, refresh_seconds: float = REFRESH_SECONDS):
        self.kafka, self.topic, self.refresh_seconds = kafka, topic, refresh_seconds
        self.map = Reassignments()
        self.read_at: dt.datetime | None = None
        self._consumer: Consumer | None = None
        self._positions: dict[int, int] = {}
        self._next = 0.0
        self._lock = threading.Lock()  # the HTTP server asks from several threads

    def successor(self, code: str, category: str, as_of: dt.datetime) -> str:
        if self.read_at is None:
            self.refresh()
        return self.map.successor(code, category, as_of)

    def refresh_if_older(self, as_of: dt.datetime) -> bool:
        """Catch up first if `as_of` is after the last read; whether it read."""
        if self.read_at is not None and as_of <= self.read_at:
            return False
        self.refresh()
        return True

    def tick(self, now: float) -> None:
        if now >= self._next:
            self._next = now + self.refresh_seconds
            self.refresh()

    def refresh(self) -> None:
        """Read what was appended since the last refresh, up to the current end."""
        with self._lock:
            started = _utc_now()
            consumer = self._consumer or self._open()
            if consumer is not None:
                self._catch_up(consumer)
            self.read_at = started

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _open(self) -> Consumer | None:
        consumer = Consumer(
            client_config(
                self.kafka,
                group_id=f"creditsync-ownership-{uuid.uuid4().hex[:8]}",
                enable_auto_commit=False,
                enable_auto_offset_store=False,
                auto_offset_reset="earliest",
                enable_partition_eof=False,
            )
        )
        meta = consumer.list_topics(self.topic, timeout=META_TIMEOUT).topics.get(self.topic)
        if meta is None or meta.error is not None or not meta.partitions:
            # No topic yet (a deployment from before ownership): no reassignment exists.
            consumer.close()
            return None
        self._positions = dict.fromkeys(meta.partitions, 0)
        consumer.assign([TopicPartition(self.topic, p, 0) for p in self._positions])
        self._consumer = consumer
        return consumer

    def _catch_up(self, consumer: Consumer) -> None:
        ends = {
            p: consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=META_TIMEOUT, cached=False
            )[1]
            for p in self._positions
        }
        idle = 0
        while any(self._positions[p] < end for p, end in ends.items()):
            messages = consumer.consume(100, timeout=1.0)
            idle = 0 if messages else idle + 1
            if idle > 30:
                raise OwnershipLogError(f"{self.topic}: no messages for 30 s before its end")
            for message in messages:
                if message.error() is not None:
                    raise KafkaException(message.error())
                self._add(message)
                self._positions[message.partition()] = message.offset() + 1
            for tp in consumer.position([TopicPartition(self.topic, p) for p in ends]):
                if tp.offset >= 0:
                    self._positions[tp.partition] = max(self._positions[tp.partition], tp.offset)

    def _add(self, message: ReceivedMessage) -> None:
        try:
            self.map.add(Reassignment.from_json(message.value()))
        except (ValueError, KeyError, TypeError) as exc:
            raise OwnershipLogError(
                f"{self.topic}[{message.partition()}] offset {message.offset()} is not a "
                f"reassignment ({type(exc).__name__}: {exc})"
            ) from exc
