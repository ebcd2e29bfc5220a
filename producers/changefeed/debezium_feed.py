"""The Debezium consumer: change events from the department's topics to our intake topics.

A confluent-kafka Consumer with auto-commit off: a batch of change events is mapped,
published and acknowledged (new events to credit.intake.<category>, refusals to
credit.rejected), and only then are the source offsets committed. A crash or an unreachable
broker stops the feed with the error and without a commit, so a restart reads the batch
again, and the ledger turns what was already published into "already published".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from producers.changefeed.debezium import ADAPTER, MalformedChange, map_change, parse_change
from producers.changefeed.errors import ChangeFeedError, FeedTimeout
from producers.changefeed.mapping import FeedMapping
from producers.changefeed.publishing import FeedPublisher, FeedStats, Refusal
from producers.publisher import OutgoingRecord, rejection_record
from schemas.dead_letters import Rejection, dead_letter_headers, rejected_topic
from schemas.kafka.config import KafkaSettings, client_config
from schemas.records import IntakeEvent

log = logging.getLogger(__name__)

DEFAULT_CONSUMER_CONFIG: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    # Debezium's Kafka Connect producers may write transactionally (exactly-once source
    # support); never read what a connector aborted.
    "isolation.level": "read_committed",
    # End-of-partition events tell a bounded run (--until-idle, tests) that it caught up.
    "enable.partition.eof": True,
}
StopCheck = Callable[[], bool]
BatchDone = Callable[[FeedStats], None]


def default_group_id(department_code: str, topic_prefix: str = "") -> str:
    return f"{topic_prefix}creditsync-feed-{department_code}"


class DebeziumFeed:
    """One department's Debezium topics into the intake topics. No network call in __init__;
    explicit arguments override `extra_config`, which overrides the defaults."""

    def __init__(
        self,
        mapping: FeedMapping,
        kafka: KafkaSettings,
        publisher: FeedPublisher,
        *,
        topics: list[str] | None = None,
        group_id: str | None = None,
        batch_size: int = 1000,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        configured = mapping.debezium
        self.topics = topics or (list(configured.topics) if configured else [])
        if not self.topics:
            raise ChangeFeedError(
                f"{mapping.source}: no Debezium topics: add [debezium] topics = [...] or pass them"
            )
        self.mapping = mapping
        self.publisher = publisher
        self.batch_size = batch_size
        code = mapping.department["code"]
        self.group_id = (
            group_id
            or (configured.group_id if configured else None)
            or default_group_id(code, publisher.topic_prefix)
        )
        self._config = client_config(
            kafka, extra_config, defaults=DEFAULT_CONSUMER_CONFIG, group_id=self.group_id
        )
        self.stats = FeedStats()

    def run(
        self,
        *,
        until_idle: bool = False,
        stop: StopCheck | None = None,
        timeout: float | None = None,
        on_batch: BatchDone | None = None,
    ) -> FeedStats:
        """Consume until `stop()` is true, or (with `until_idle`) until every assigned
        partition is read to its end; FeedTimeout if `timeout` seconds pass first."""
        consumer = Consumer(self._config)
        assigned: set[tuple[str, int]] = set()
        at_end: set[tuple[str, int]] = set()

        def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
            assigned.update((p.topic, p.partition) for p in partitions)

        def on_revoke(_: Consumer, partitions: list[TopicPartition]) -> None:
            for p in partitions:
                assigned.discard((p.topic, p.partition))
                at_end.discard((p.topic, p.partition))

        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            consumer.subscribe(self.topics, on_assign=on_assign, on_revoke=on_revoke)
            while not (stop and stop()):
                messages = consumer.consume(self.batch_size, timeout=0.5)
                batch: list[Message] = []
                for message in messages:
                    where = (message.topic(), message.partition())
                    error = message.error()
                    if error is None:
                        at_end.discard(where)
                        batch.append(message)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(where)
                    elif error.fatal() or not error.retriable():
                        raise ChangeFeedError(f"reading {where[0]}[{where[1]}]: {error.str()}")
                    else:
                        log.warning("reading %s[%s]: %s (retrying)", *where, error.str())
                if batch:
                    self._process(batch)
                    self._commit(consumer, batch)
                    if on_batch is not None:
                        on_batch(self.stats)
                if until_idle and assigned and assigned <= at_end:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise FeedTimeout(
                        f"the Debezium feed of {self.mapping.department['code']} did not catch "
                        f"up with {', '.join(self.topics)} within {timeout:.0f}s"
                    )
        finally:
            # No commit here: whatever was not acknowledged is read again after a restart.
            consumer.close()
        return self.stats

    def _process(self, batch: list[Message]) -> None:
        events: list[IntakeEvent] = []
        refusals: list[Refusal] = []
        for message in batch:
            self.stats.read += 1
            value = message.value()
            if value is None:
                # The tombstone Debezium writes after a delete, for log compaction: the
                # delete event before it already carried the withdraw.
                self.stats.tombstones += 1
                continue
            ref = f"{message.topic()}[{message.partition()}]@{message.offset()}"
            try:
                mapped = map_change(
                    parse_change(value), self.mapping, offset=message.offset(), record_ref=ref
                )
            except MalformedChange as exc:
                refusals.append(self._dead_letter(message, exc, ref))
                continue
            outcome = mapped.outcome
            if isinstance(outcome, dict):
                events.append(outcome)
                continue
            record = rejection_record(
                outcome,
                category=mapped.table.category,
                department_code=self.mapping.department["code"],
                adapter=ADAPTER,
                fields=mapped.fields,
                topic_prefix=self.publisher.topic_prefix,
            )
            refusals.append(Refusal(outcome.code, record))
        self.publisher.send(events, refusals, self.stats)

    def _dead_letter(self, message: Message, exc: MalformedChange, ref: str) -> Refusal:
        """The original bytes, with where they came from and why, on credit.rejected."""
        reason = Rejection(
            reason_code=exc.code,
            field=exc.field,
            message=f"{ref}: {exc} (department {self.mapping.department['code']})",
            stage="validate",
            exception_class="producers.changefeed.MalformedChange",
        )
        headers = dead_letter_headers(
            reason,
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            original_headers=[(k, v or b"") for k, v in message.headers() or []],
            department=self.mapping.department["code"],
        )
        record = OutgoingRecord(
            rejected_topic(self.publisher.topic_prefix), message.key(), message.value(), headers
        )
        return Refusal(exc.code, record)

    def _commit(self, consumer: Consumer, batch: list[Message]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for message in batch:
            where = (message.topic(), message.partition())
            next_offsets[where] = max(next_offsets.get(where, 0), message.offset() + 1)
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            raise ChangeFeedError(
                f"the batch was published but its source offsets could not be committed: {exc}; "
                "a restart reads it again and publishes nothing new"
            ) from exc
