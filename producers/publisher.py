"""The Kafka publisher every adapter uses: idempotent, acks=all, delivery checked.

A record is published only when the broker has acknowledged it; a failed delivery is raised to
the caller (the HTTP intake answers 503, `creditsync ingest` exits 1), never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from creditsync.errors import ServiceUnavailable
from schemas.records import IntakeEvent
from schemas.topics import intake_topic

ADAPTER_HEADER_VERSION = "1"

# Tuned for throughput on one node: batches of up to 1 MiB lingering 20 ms, lz4 (cheap on
# CPU). The murmur2 partitioner is Java's and aiokafka's, so records keyed by a code land on
# the same partition number as Faust's repartitioned registry entries for that code.
DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_048_576,
    "partitioner": "murmur2_random",
    "message.timeout.ms": 30_000,
}


class PublishFailed(ServiceUnavailable):
    """Kafka did not acknowledge one or more records; none of them may be assumed sent."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class KafkaPublisher:
    """Thin wrapper over confluent-kafka's Producer. No network call in __init__: the
    producer connects on first use. Explicit arguments override `extra_config`, which
    overrides the defaults."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "creditsync",
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self._config = {
            **DEFAULT_PRODUCER_CONFIG,
            **(extra_config or {}),
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
        }
        self._producer: Producer | None = None

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self._config)
        return self._producer

    def publish(self, records: Iterable[OutgoingRecord], timeout: float = 30.0) -> int:
        """Send records and wait until every one is acknowledged; return how many.

        Raises PublishFailed naming the first failure when any delivery fails or does not
        complete within `timeout` seconds."""
        errors: list[str] = []
        pending = 0
        sent = 0

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            nonlocal pending
            pending -= 1
            if err is not None:
                errors.append(f"{msg.topic()} key={msg.key()!r}: {err.str()}")

        producer = self.producer
        for record in records:
            pending += 1
            sent += 1
            while True:
                try:
                    producer.produce(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=record.headers,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports to make room.
                    producer.poll(0.1)
                except KafkaException as exc:
                    raise PublishFailed(f"cannot publish to {record.topic}: {exc}") from exc
            producer.poll(0)
        remaining = producer.flush(timeout)
        if remaining or pending:
            raise PublishFailed(
                f"{max(remaining, pending)} record(s) not acknowledged by Kafka within "
                f"{timeout:.0f}s (is the broker at {self._config['bootstrap.servers']} up?)"
            )
        if errors:
            raise PublishFailed(f"{len(errors)} record(s) failed: {errors[0]}")
        return sent

    def close(self, timeout: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
            self._producer = None

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subject_key(event: IntakeEvent) -> bytes:
    """The message key: the code the department sent, USCC first (DESIGN.md "Flow")."""
    subject = event["subject"]
    code = subject["uscc"] or subject["registration_number"] or subject["organisation_code"]
    return (code or "").encode()


def intake_record(
    event: IntakeEvent, value: bytes, fingerprint: str, topic_prefix: str = ""
) -> OutgoingRecord:
    """An encoded intake event as a Kafka record with the headers operators filter on."""
    return OutgoingRecord(
        topic=intake_topic(event["category"], topic_prefix),
        key=subject_key(event),
        value=value,
        headers=[
            ("department", event["department"]["code"].encode()),
            ("category", event["category"].encode()),
            ("schema_fingerprint", fingerprint.encode()),
            ("adapter", event["adapter"].encode()),
            ("event_id", event["event_id"].encode()),
        ],
    )
