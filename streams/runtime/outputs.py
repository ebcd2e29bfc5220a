"""The stream loops' outputs: produced with confluent-kafka, acknowledged once per batch.

librdkafka produces in C without awaiting (Faust's `Topic.send`, which the stages used until
issue #7, cost about half a millisecond per message in Python); a batch's outputs are
produced as they are decided and then flushed together, and the batch's offsets are
committed only after every output was delivered. A failed delivery raises: the worker
crashes loudly and, restarted, re-reads the batch (its outputs are idempotent by event id and
version).

Every output is checked against the topics' message limit before it is produced
(schemas/message_size.py): one that would not fit raises `OutputTooLarge` and nothing of it
reaches librdkafka, whose "Message size too large" killed the loop before its commit and
brought it back to the same batch forever (issue #13). While the loop handles one message
the outputs are held (`hold`), so an input whose outputs do not fit leaves none behind.

An output to a topic that may not exist yet (`send(…, declare=True)`: a receiving
department's notices) waits for the batch's flush, which declares the new topics with one
admin call first: no admin call while a message is handled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from schemas.dead_letters import Rejection, dead_letter_headers
from schemas.kafka.config import KafkaSettings
from schemas.kafka.producer import KafkaProducer
from schemas.message_size import MESSAGE_LIMIT_BYTES, fit_dead_letter, message_size
from streams.errors import StreamsError
from streams.runtime.messages import Received

# The murmur2 partitioner is Java's and aiokafka's: a record keyed by a USCC or a legacy
# code lands on the same partition number whoever produced it, which the co-partitioned
# stage tables rely on (streams/runtime/stage_state.py).
OUTPUT_PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 5,
    "batch.size": 1_048_576,
    "partitioner": "murmur2_random",
    "message.timeout.ms": 60_000,
    # Only failures call back into Python: a callback per delivered message cost more than
    # the produce itself (profiled), and flush() says when all are acknowledged.
    "delivery.report.only.error": True,
}

Headers = Sequence[tuple[str, bytes]]


class OutputNotDelivered(StreamsError):
    """Kafka did not acknowledge an output: the batch must not be acknowledged."""


class OutputTooLarge(StreamsError):
    """An output (or a state value's changelog record) over the topics' message limit."""

    def __init__(self, topic: str, key: bytes | None, size: int, limit: int) -> None:
        super().__init__(f"{topic} key={key!r}: {size} bytes over the limit of {limit} bytes")
        self.topic, self.key, self.size, self.limit = topic, key, size, limit


Output = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]], dict[str, int]]


class Outputs:
    """One producer per worker process; `send` per output, `flush` per batch."""

    def __init__(
        self,
        kafka: KafkaSettings,
        client_id: str,
        limit: int = MESSAGE_LIMIT_BYTES,
        declare: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._kafka = KafkaProducer(kafka, client_id=client_id, defaults=OUTPUT_PRODUCER_CONFIG)
        self._held: list[Output] | None = None
        self.limit = limit
        # Topics made on first use: declared (one partition each) before their outputs go.
        self._declare = declare or partial(_declare_one_partition, kafka)
        self._known: set[str] = set()
        self._undeclared: set[str] = set()
        self._waiting: list[Output] = []

    def known_topics(self, topics: Iterable[str]) -> None:
        """Topics that exist (listed at a stage's start): sent to without declaring."""
        self._known.update(topics)
        self._undeclared.difference_update(topics)

    @property
    def sent(self) -> int:
        return self._kafka.produced

    def hold(self) -> None:
        """Keep what is sent from now on until `release` (produce it) or `discard`."""
        self._held = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        for output in held:
            self._produce(*output)

    def discard(self) -> None:
        self._held = None

    def mark(self) -> int:
        """Where the held outputs stand now, for `discard_since` (only while holding)."""
        if self._held is None:
            raise StreamsError("Outputs.mark() is for outputs held for one message")
        return len(self._held)

    def discard_since(self, mark: int) -> None:
        """Drop the outputs held after `mark`; those before it stay held."""
        if self._held is not None:
            del self._held[mark:]

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        *,
        partition: int | None = None,
        declare: bool = False,
    ) -> None:
        """`partition`: set for a changelog write (the partition of the state it keeps);
        otherwise the partitioner's choice by key. `declare`: the topic may not exist yet
        (made at the batch's flush). OutputTooLarge when it would not fit."""
        headers = list(headers or ())
        size = message_size(key, value, headers)
        if size > self.limit:
            raise OutputTooLarge(topic, key, size, self.limit)
        if declare and topic not in self._known:
            self._undeclared.add(topic)
        where = {} if partition is None else {"partition": partition}
        if self._held is not None:
            self._held.append((topic, key, value, headers, where))
            return
        self._produce(topic, key, value, headers, where)

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        where: dict[str, int],
    ) -> None:
        if topic in self._undeclared:
            # In order behind the others of its topic, until the flush declares it.
            self._waiting.append((topic, key, value, headers, where))
            return
        self._kafka.produce(topic, value, key, headers, partition=where.get("partition"))

    def flush_blocking(self, timeout: float = 120.0) -> None:
        """Wait until everything sent so far is acknowledged; raise if anything failed."""
        self._produce_waiting()
        remaining = self._kafka.flush(timeout)
        if remaining:
            raise OutputNotDelivered(
                f"{remaining} output(s) not acknowledged by Kafka within {timeout:.0f}s"
            )
        errors = self._kafka.take_failures()
        if errors:
            raise OutputNotDelivered(f"{len(errors)} output(s) failed: {errors[0]}")

    def _produce_waiting(self) -> None:
        """Declare the new topics the batch sent to (one admin call), then produce to them."""
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        new = sorted({output[0] for output in waiting})
        self._declare(new)
        self.known_topics(new)
        for output in waiting:
            self._produce(*output)

    def close(self) -> None:
        self._kafka.close(30)


def _declare_one_partition(kafka: KafkaSettings, topics: list[str]) -> None:
    from streams.runtime.stage_state import declare_topics

    declare_topics(kafka, topics, 1)


def message_headers(message: Received) -> list[tuple[str, bytes]]:
    headers = getattr(message, "headers", None) or []
    if isinstance(headers, dict):
        return [(k, v) for k, v in headers.items()]
    return [(k, v) for k, v in headers]


def send_dead_letter(
    out: Outputs,
    topic: str,
    message: Received,
    rejection: Rejection,
    *,
    event_id: str | None = None,
    department: str | None = None,
    category: str | None = None,
) -> None:
    """The message's original bytes to credit.rejected with the reason headers, sent with
    the batch's outputs (so acknowledged before the batch's offsets may be committed).

    Identity headers not given are taken from the adapter's headers on the message. One that
    would not fit the topic's limit is cut to fit (schemas/message_size.py): the original
    stays whole at the topic, partition and offset its headers name."""
    original = message_headers(message)
    sent = {k: v.decode("utf-8", "replace") for k, v in original if v}
    limit = getattr(out, "limit", MESSAGE_LIMIT_BYTES)
    key, value, headers = fit_dead_letter(
        message.key,
        message.value,
        dead_letter_headers(
            rejection,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            original_headers=original,
            event_id=event_id or sent.get("event_id"),
            department=department or sent.get("department"),
            category=category or sent.get("category"),
        ),
        limit,
    )
    out.send(topic, key, value, headers)
