"""The stream loops' outputs: produced with confluent-kafka, acknowledged once per batch.

librdkafka produces in C without awaiting (Faust's `Topic.send` cost about half a
millisecond per message in Python); a batch's outputs are produced as they are decided and
then flushed together, and the batch's offsets are committed only after every output was
delivered. A failed delivery raises: the worker crashes loudly and, restarted, re-reads the
batch (its outputs are idempotent by event id and version).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.dead_letters import Rejection, dead_letter_headers
from schemas.kafka_connection import client_config
from streams.errors import StreamsError

# The murmur2 partitioner is Java's and aiokafka's: a record keyed by a USCC or a legacy
# code lands on the same partition number whoever produced it, which the co-partitioned
# stage tables rely on (streams/stage_state.py).
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


class Outputs:
    """One producer per worker process; `send` per output, `flush` per batch."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._config = {**OUTPUT_PRODUCER_CONFIG, **client_config(bootstrap),
                        "client.id": client_id}  # fmt: skip
        self._producer: Producer | None = None
        self._errors: list[str] = []
        self.sent = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}[{msg.partition()}] key={msg.key()!r}: {err}")

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        *,
        partition: int | None = None,
    ) -> None:
        """`partition`: set for a changelog write (the partition of the state it keeps);
        otherwise the partitioner's choice by key."""
        if self._producer is None:
            self._producer = Producer(self._config)
        where = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=list(headers or ()),
                    on_delivery=self._on_delivery, **where,
                )  # fmt: skip
                break
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full: let deliveries drain
        self.sent += 1

    def flush_blocking(self, timeout: float = 120.0) -> None:
        """Wait until everything sent so far is acknowledged; raise if anything failed."""
        if self._producer is None:
            return
        remaining = self._producer.flush(timeout)
        if remaining:
            raise OutputNotDelivered(
                f"{remaining} output(s) not acknowledged by Kafka within {timeout:.0f}s"
            )
        if self._errors:
            errors, self._errors = self._errors, []
            raise OutputNotDelivered(f"{len(errors)} output(s) failed: {errors[0]}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(30)
            self._producer = None


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    headers = getattr(message, "headers", None) or []
    if isinstance(headers, dict):
        return [(k, v) for k, v in headers.items()]
    return [(k, v) for k, v in headers]


def send_dead_letter(
    out: Any,
    topic: str,
    message: Any,
    rejection: Rejection,
    *,
    event_id: str | None = None,
    department: str | None = None,
    category: str | None = None,
) -> None:
    """The message's original bytes to credit.rejected with the reason headers, sent with
    the batch's outputs (so acknowledged before the batch's offsets may be committed).

    Identity headers not given are taken from the adapter's headers on the message."""
    original = message_headers(message)
    sent = {k: v.decode("utf-8", "replace") for k, v in original if v}
    out.send(
        topic,
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
    )
