"""A stage table restored from its changelog on a real broker: last value wins, a
tombstone deletes, and each partition holds only its own keys."""

from __future__ import annotations

import json

import pytest

from schemas.kafka.config import kafka_at
from streams.runtime.outputs import Outputs
from streams.runtime.stage_state import changelog_topic, declare_topics, read_changelog

pytestmark = pytest.mark.integration


def test_a_table_is_restored_from_its_changelog_partition(kafka_bootstrap, topic_prefix):
    topic = changelog_topic(f"{topic_prefix}creditsync", "registry")
    declare_topics(kafka_at(kafka_bootstrap), [topic], 4, compacted=True)
    out = Outputs(kafka_at(kafka_bootstrap), "test-changelog")
    for key, value in [("a", 1), ("b", {"name": "乙"}), ("a", None), ("c", 3), ("b", 2)]:
        body = None if value is None else json.dumps(value).encode()
        out.send(topic, key.encode(), body, partition=1)
    out.send(topic, b"elsewhere", b"0", partition=2)
    out.flush_blocking()
    out.close()
    assert read_changelog(kafka_at(kafka_bootstrap), topic, 1) == {"b": 2, "c": 3}
    assert read_changelog(kafka_at(kafka_bootstrap), topic, 2) == {"elsewhere": 0}
    assert read_changelog(kafka_at(kafka_bootstrap), topic, 0) == {}
