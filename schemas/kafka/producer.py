"""The one producer wrapper: lazy, delivery failures counted, flushed with a timeout.

`producers/publisher.py` (KafkaPublisher: acknowledged per call) and
`streams/runtime/outputs.py` (Outputs: acknowledged per batch) both produce through it; the
size checks stay theirs (schemas/message_size.py), before anything reaches librdkafka.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.kafka.config import KafkaSettings, client_config

# librdkafka's local queue is full: serve delivery reports this long to make room.
QUEUE_FULL_POLL_SECONDS = 0.05


class KafkaProducer:
    """confluent-kafka's Producer, made on first use: no network call in __init__.

    `defaults` < `extra_config` < the connection < `client_id`. A failed delivery is kept
    in `failures` until `take_failures()`; `flush(timeout)` answers how many are still
    unacknowledged."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str,
        defaults: Mapping[str, Any] | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = client_config(settings, extra_config, defaults=defaults, client_id=client_id)
        self.failures: list[str] = []
        self.produced = 0
        self._producer: Producer | None = None

    @property
    def bootstrap(self) -> str:
        return str(self.config["bootstrap.servers"])

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.config)
        return self._producer

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures.append(delivery_failure(err, msg))

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        partition: int | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        """Queue one message; a full local queue is waited out (deliveries drain it).
        `partition`: None for the partitioner's choice by key; `on_delivery`: a caller's own
        accounting instead of `failures`. KafkaException propagates."""
        where = {} if partition is None else {"partition": partition}
        report = on_delivery or self._on_delivery
        producer = self.producer
        while True:
            try:
                producer.produce(
                    topic, value, key, headers=list(headers), on_delivery=report, **where
                )
                break
            except BufferError:
                producer.poll(QUEUE_FULL_POLL_SECONDS)
        self.produced += 1

    def poll(self, timeout: float = 0) -> None:
        if self._producer is not None:
            self._producer.poll(timeout)

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for every queued message: how many are left."""
        if self._producer is None:
            return 0
        return self._producer.flush(timeout)

    def take_failures(self) -> list[str]:
        """The delivery failures reported since the last call (and forget them)."""
        failures, self.failures = self.failures, []
        return failures

    def close(self, timeout: float = 30.0) -> int:
        """Flush what is queued (up to `timeout`) and drop the client; how many were left."""
        if self._producer is None:
            return 0
        remaining = self._producer.flush(timeout)
        self._producer = None
        return remaining


def delivery_failure(err: KafkaError, msg: Message) -> str:
    """One failed delivery, as an error message names it."""
    return f"{msg.topic()}[{msg.partition()}] key={msg.key()!r}: {err.str()}"
