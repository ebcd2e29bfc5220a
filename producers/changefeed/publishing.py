"""Publishing one batch of a change feed: new events and refusals acknowledged, then recorded.

Both feeds end here. Order of work per batch: ask the ledger which event ids are already
published, publish the rest together with the batch's refusals (credit.rejected) and wait for
Kafka's acknowledgement, and only then record the ids — so a crash anywhere repeats the
batch rather than losing it, and the repeat publishes nothing new.

Event ids are content hashes (producers.events.event_id), which a change feed must use with
care: a row changed A → B → A again produces A's id a second time, and a plain "already
published" check would drop the change back to A, leaving B in the public view. So the
feed also keeps, per item, the head it last published (source sequence and event id): an
event whose id is known is skipped only if it is that head or older than it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import redis

from producers.changefeed.errors import LedgerUnavailable
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher, OutgoingRecord, intake_record
from schemas.codec import encode_intake, fingerprint_of
from schemas.records import IntakeEvent

HEADS_PREFIX = "changefeed:heads:"


@dataclass
class FeedStats:
    """What a feed did, for its summary line and the tests."""

    read: int = 0
    published: int = 0
    already_published: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    tombstones: int = 0  # Debezium's null value after a delete: expected, not an error
    batches: int = 0

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def summary(self) -> str:
        parts = [
            f"read {self.read}",
            f"published {self.published}",
            f"already published {self.already_published}",
            f"rejected {self.rejected}",
        ]
        if self.tombstones:
            parts.append(f"tombstones skipped {self.tombstones}")
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejected_by_reason.items()))
        return "; ".join(parts) + (f" ({reasons})" if reasons else "")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record the feed could not turn into an event, ready for credit.rejected."""

    reason_code: str
    record: OutgoingRecord


@dataclass(frozen=True, slots=True)
class ItemHead:
    """The newest version of one item this feed published: its source sequence and id."""

    sequence: int
    event_id: str

    def encode(self) -> str:
        return f"{self.sequence}|{self.event_id}"

    @classmethod
    def decode(cls, raw: bytes | str | None) -> ItemHead | None:
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        sequence, _, event_id = text.partition("|")
        return cls(int(sequence), event_id)


def item_of(event: IntakeEvent) -> str:
    return f"{event['category']}|{event['record_key']}"


def select_fresh(
    events: Iterable[IntakeEvent],
    published_ids: set[str],
    heads: Mapping[str, ItemHead | None],
) -> tuple[list[IntakeEvent], int]:
    """The events to publish, and how many are already published.

    Skipped: an event whose id was published before (or earlier in the batch), unless it is
    newer than the item's head and differs from it — a change back to earlier content, which
    must reach the public view."""
    fresh: list[IntakeEvent] = []
    already = 0
    known = set(published_ids)
    # Heads move through the batch as its events are taken, so a batch is judged exactly
    # as the same events sent one by one would be.
    running = dict(heads)
    for event in events:
        item, event_id, sequence = item_of(event), event["event_id"], event["source_sequence"]
        head = running.get(item)
        if event_id in known and (
            head is None or head.event_id == event_id or sequence <= head.sequence
        ):
            already += 1
            continue
        fresh.append(event)
        known.add(event_id)
        if head is None or sequence >= head.sequence:
            running[item] = ItemHead(sequence, event_id)
    return fresh, already


def advance_heads(
    heads: Mapping[str, ItemHead | None], published: Iterable[IntakeEvent]
) -> dict[str, ItemHead]:
    """The heads that move: per item, the newest published event if newer than its head."""
    moved: dict[str, ItemHead] = {}
    for event in published:
        item = item_of(event)
        current = moved.get(item) or heads.get(item)
        if current is None or event["source_sequence"] >= current.sequence:
            moved[item] = ItemHead(event["source_sequence"], event["event_id"])
    return moved


class FeedPublisher:
    """Publishes batches for one department: ledger check, publish, acknowledge, record."""

    def __init__(
        self,
        publisher: KafkaPublisher,
        client: redis.Redis,
        department_code: str,
        *,
        topic_prefix: str = "",
        publish_timeout: float = 30.0,
    ) -> None:
        self.publisher = publisher
        self.redis = client
        self.department_code = department_code
        self.topic_prefix = topic_prefix
        self.publish_timeout = publish_timeout
        self.ledger = PublishedLedger(client, topic_prefix)
        self._heads_key = f"{topic_prefix}{HEADS_PREFIX}{department_code}"

    def send(self, events: list[IntakeEvent], refusals: list[Refusal], stats: FeedStats) -> None:
        """Publish a batch; raises PublishFailed (Kafka) or LedgerUnavailable (Redis), in
        which case nothing of the batch may be taken as done and it must be sent again."""
        items = list(dict.fromkeys(item_of(e) for e in events))
        try:
            published_ids = self.ledger.already_published(
                self.department_code, [e["event_id"] for e in events]
            )
            raw_heads = self.redis.hmget(self._heads_key, items) if items else []
        except redis.RedisError as exc:
            raise LedgerUnavailable(
                f"cannot check the ledger of published events in Redis: {exc}; nothing of "
                "this batch was published"
            ) from exc
        heads = {item: ItemHead.decode(raw) for item, raw in zip(items, raw_heads, strict=True)}
        fresh, already = select_fresh(events, published_ids, heads)
        records = []
        for event in fresh:
            value = encode_intake(event)
            records.append(intake_record(event, value, fingerprint_of(value), self.topic_prefix))
        records += [r.record for r in refusals]
        if records:
            self.publisher.publish(records, timeout=self.publish_timeout)
        moved = advance_heads(heads, fresh)
        try:
            # One transaction: the ledger and the heads never disagree after a crash.
            pipe = self.redis.pipeline(transaction=True)
            PublishedLedger(pipe, self.topic_prefix).record_published(
                self.department_code, list(dict.fromkeys(e["event_id"] for e in fresh))
            )
            if moved:
                pipe.hset(self._heads_key, mapping={k: h.encode() for k, h in moved.items()})
            pipe.execute()
        except redis.RedisError as exc:
            raise LedgerUnavailable(
                f"{len(fresh)} event(s) were published but could not be recorded in the "
                f"ledger: {exc}; a restart publishes them again (harmless, idempotent)"
            ) from exc
        stats.published += len(fresh)
        stats.already_published += already
        for refusal in refusals:
            stats.rejected_by_reason[refusal.reason_code] += 1
        stats.batches += 1
