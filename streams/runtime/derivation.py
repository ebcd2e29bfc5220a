"""The stream stages' derivation generation: how many times credit.records was re-derived.

Kept in the compacted topic `credit.derivations`, keyed by the stages' consumer group:
`creditsync replay --stage streams` writes the next generation while the workers are stopped,
and the items stage reads it when it starts, so every record it emits after a re-derivation
carries the new generation in its version (streams/rules/versioning.py `derived_version`).
"""

from __future__ import annotations

import datetime as dt
import json

from schemas.kafka.config import KafkaSettings
from schemas.kafka.producer import KafkaProducer
from schemas.topics import DERIVATIONS
from streams.runtime.stage_state import declare_topics, existing_topics, read_changelog


def derivations_topic(prefix: str) -> str:
    return f"{prefix}{DERIVATIONS}"


def current_generation(
    kafka: KafkaSettings, prefix: str, group: str, topics: set[str] | None = None
) -> int:
    """The group's generation: 0 if it was never re-derived (changes nothing). `topics`:
    the existing topics, when the caller has listed them already."""
    topic = derivations_topic(prefix)
    if topic not in (existing_topics(kafka) if topics is None else topics):
        return 0
    entry = read_changelog(kafka, topic, 0).get(group) or {}
    return int(entry.get("generation", 0))


def record_generation(
    kafka: KafkaSettings, prefix: str, group: str, generation: int, *, from_ms: int
) -> None:
    """Write the group's new generation (the workers are stopped: checked by the caller)."""
    topic = derivations_topic(prefix)
    declare_topics(kafka, [topic], 1, compacted=True)
    body = {
        "generation": generation,
        "from_ms": from_ms,
        "reset_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    producer = KafkaProducer(
        kafka,
        client_id="creditsync-derivation",
        defaults={"enable.idempotence": True, "acks": "all"},
    )
    producer.produce(topic, json.dumps(body).encode(), group.encode(), partition=0)
    if producer.close(30):
        raise TimeoutError(f"the derivation generation was not acknowledged on {topic}")
    failures = producer.take_failures()
    if failures:
        raise TimeoutError(f"the derivation generation was not written: {failures[0]}")
