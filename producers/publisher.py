"""The Kafka publisher every adapter uses: idempotent, acks=all, delivery checked.

A record is published only when the broker has acknowledged it; a failed delivery is raised to
the caller (the HTTP intake answers 503, `creditsync ingest` exits 1), never dropped.

Sizes are checked before anything is produced (schemas/message_size.py): a record over the
topics' limit raises RecordTooLarge, which is no reason to send again (the HTTP intake
answers 413), and a dead letter over it is cut to fit, so a rejection is always recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from producers.errors import ProducerError
from producers.personal import protected_fields
from schemas.dead_letters import Rejection, dead_letter_headers, rejected_topic
from schemas.errors import ServiceUnavailable
from schemas.identifiers import normalise_code
from schemas.kafka.config import KafkaSettings
from schemas.kafka.producer import KafkaProducer, delivery_failure
from schemas.message_size import MESSAGE_LIMIT_BYTES, fit_dead_letter, message_size
from schemas.records import IntakeEvent
from schemas.topics import REJECTED, intake_topic

ADAPTER_HEADER_VERSION = "1"

# Tuned for throughput on one node: batches of up to 1 MiB lingering 20 ms, lz4 (cheap on
# CPU). The murmur2 partitioner is Java's, so records keyed by a code land on the same
# partition number as the registry entries the intake stage re-keys by that code.
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


class RecordTooLarge(ProducerError):
    """A record whose encoded form is over the topics' message limit: Kafka would refuse
    it however often it is sent. `oversized`: (index in the batch, topic, size)."""

    def __init__(self, oversized: list[tuple[int, str, int]], limit: int) -> None:
        self.oversized, self.limit = oversized, limit
        index, topic, size = oversized[0]
        super().__init__(
            f"{len(oversized)} record(s) over the message limit of {limit} bytes; the first, "
            f"number {index + 1} for {topic}, is {size} bytes"
        )


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def size(self) -> int:
        return message_size(self.key, self.value, self.headers)


class KafkaPublisher:
    """Thin wrapper over confluent-kafka's Producer. No network call in __init__: the
    producer connects on first use. Explicit arguments override `extra_config`, which
    overrides the defaults."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        client_id: str = "creditsync",
        extra_config: dict[str, Any] | None = None,
        limit: int = MESSAGE_LIMIT_BYTES,
    ) -> None:
        self.limit = limit
        self._kafka = KafkaProducer(
            kafka, client_id=client_id, defaults=DEFAULT_PRODUCER_CONFIG, extra_config=extra_config
        )

    def publish(self, records: Iterable[OutgoingRecord], timeout: float = 30.0) -> int:
        """Send records and wait until every one is acknowledged; return how many.

        Raises PublishFailed naming the first failure when any delivery fails or does not
        complete within `timeout` seconds; RecordTooLarge, before anything is produced,
        when a record other than a dead letter is over the limit."""
        records = [self._sized(r) for r in records]
        oversized = [(i, r.topic, r.size()) for i, r in enumerate(records) if r.size() > self.limit]
        if oversized:
            raise RecordTooLarge(oversized, self.limit)
        # This call's own accounting: a late report of an earlier call's record (one that
        # timed out) is not this call's failure.
        errors: list[str] = []
        pending = 0

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            nonlocal pending
            pending -= 1
            if err is not None:
                errors.append(delivery_failure(err, msg))

        for record in records:
            pending += 1
            try:
                self._kafka.produce(
                    record.topic, record.value, record.key, record.headers, on_delivery=on_delivery
                )
            except KafkaException as exc:
                raise PublishFailed(f"cannot publish to {record.topic}: {exc}") from exc
            self._kafka.poll(0)
        remaining = self._kafka.flush(timeout)
        if remaining or pending:
            raise PublishFailed(
                f"{max(remaining, pending)} record(s) not acknowledged by Kafka within "
                f"{timeout:.0f}s (is the broker at {self._kafka.bootstrap} up?)"
            )
        if errors:
            raise PublishFailed(f"{len(errors)} record(s) failed: {errors[0]}")
        return len(records)

    def _sized(self, record: OutgoingRecord) -> OutgoingRecord:
        """A dead letter cut to fit the limit (the original's place is in its headers)."""
        if not record.topic.endswith(REJECTED) or record.size() <= self.limit:
            return record
        key, value, headers = fit_dead_letter(record.key, record.value, record.headers, self.limit)
        return OutgoingRecord(record.topic, key, value or b"", headers)

    def close(self, timeout: float = 10.0) -> None:
        self._kafka.close(timeout)

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subject_key(event: IntakeEvent) -> bytes:
    """The message key: the code the department sent (DESIGN.md "Flow"), normalised.

    USCC first, then organisation code, then registration number — the order in which
    streams/ resolves a subject and parks it, so a parked record and the registry alias that
    releases it share a key and hence a partition."""
    subject = event["subject"]
    code = subject["uscc"] or subject["organisation_code"] or subject["registration_number"]
    return normalise_code(code or "").encode()


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


def rejection_record(
    rejection: Any,
    *,
    category: str,
    department_code: str,
    adapter: str,
    fields: Mapping[str, Any],
    topic_prefix: str = "",
) -> OutgoingRecord:
    """A record an adapter refused, kept on credit.rejected with its reason so that it is
    counted, visible to operators and can be corrected and re-driven (nothing is lost).

    The value is the record as the department sent it (JSON, by English field names); the
    headers are the dead-letter headers every stage uses, with stage "validate"."""
    body = {
        "category": category,
        "department": department_code,
        "adapter": adapter,
        # No ID number in clear on credit.rejected: sealed or masked (producers.personal).
        "fields": protected_fields(fields),
    }
    value = json.dumps(body, ensure_ascii=False, default=str).encode()
    reason = Rejection(
        reason_code=str(getattr(rejection, "code", "invalid_value")),
        field=str(getattr(rejection, "field", "") or ""),
        message=str(rejection),
        stage="validate",
        exception_class="producers.RecordRejection",
    )
    topic = intake_topic(category, topic_prefix)
    return OutgoingRecord(
        topic=rejected_topic(topic_prefix),
        key=None,
        value=value,
        headers=dead_letter_headers(
            reason,
            topic=topic,
            partition=-1,
            offset=-1,
            original_headers=[("content-type", b"application/json"), ("adapter", adapter.encode())],
            department=department_code,
            category=category,
        ),
    )
