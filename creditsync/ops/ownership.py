"""`creditsync owner reassign|list`: operator reassignments of item ownership on credit.ownership.

A reassignment is an event like any record: published (keyed by the former owner), kept
forever, read whole by the workers and the HTTP server (streams/runtime/ownership_log.py).
"""

from __future__ import annotations

from creditsync.local import create_topics
from creditsync.ops.kafka_read import read_all
from producers.publisher import KafkaPublisher, OutgoingRecord
from schemas.kafka.config import KafkaSettings
from schemas.topics import OWNERSHIP, TopicSpec, topic_specs
from streams.rules.ownership import Reassignment, Reassignments


def ownership_topic(prefix: str = "") -> str:
    return f"{prefix}{OWNERSHIP}"


def publish_reassignment(kafka: KafkaSettings, prefix: str, entry: Reassignment) -> None:
    """Publish one reassignment and wait for Kafka's acknowledgement (creates the topic, with
    its infinite retention, on a deployment from before it existed)."""
    topic = ownership_topic(prefix)
    spec: TopicSpec = next(s for s in topic_specs(prefix) if s.name == topic)
    create_topics(kafka, [spec])
    record = OutgoingRecord(topic, entry.from_code.encode(), entry.to_json(),
                            [("creditsync.reassignment", entry.id.encode())])  # fmt: skip
    with KafkaPublisher(kafka, client_id="creditsync-owner") as publisher:
        publisher.publish([record])


def read_reassignments(kafka: KafkaSettings, prefix: str) -> list[Reassignment]:
    """Every reassignment, oldest first (empty when none was ever made)."""
    topic = ownership_topic(prefix)
    spec = next(s for s in topic_specs(prefix) if s.name == topic)
    create_topics(kafka, [spec])
    messages = read_all(kafka, [topic], "ownership")
    return Reassignments(Reassignment.from_json(m.value()) for m in messages).all()
