"""Intake handing resolved records to the items stage of its loop (streams/runtime/handoff.py):
the same credit.records and items state as the round trip through credit.resolved."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import replace

import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas.codec import decode_enriched
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import RECORDS, RESOLVED
from streams.app import WorkerConfig, build_app
from streams.runtime.handoff import APPLIED_HEADER
from streams.runtime.stage_state import changelog_topic, read_changelog
from streams.worker import run_worker
from tests.intake_factory import enterprise_codes, license_, penalty, publish, registration
from tests.integration.helpers import stage_config

pytestmark = pytest.mark.integration

PARTITIONS = 4
NOW = dt.datetime(2024, 3, 9, 2, 0, tzinfo=dt.UTC)


def everything(bootstrap: str, topic: str) -> list:
    """Every message of `topic`, read to its end by partition."""
    consumer = Consumer(client_config(kafka_at(bootstrap), group_id=f"{topic}-read"))
    found = []
    try:
        for p in range(PARTITIONS):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while not found or found[-1].partition() != p or found[-1].offset() < high - 1:
                msg = consumer.poll(5)
                assert msg is not None, f"{topic}[{p}] ended before offset {high - 1}"
                if msg.error() is None:
                    found.append(msg)
    finally:
        consumer.close()
    return found


def _plain(record: dict, prefix: str) -> dict:
    """The record without what differs by topic prefix alone (its lineage's topic)."""
    lineage = {**record["lineage"], "topic": record["lineage"]["topic"].removeprefix(prefix)}
    return {**record, "lineage": lineage}


def records_of(bootstrap: str, prefix: str) -> list[tuple[bytes, dict]]:
    found = everything(bootstrap, f"{prefix}{RECORDS}")
    rows = [(m.key(), _plain(decode_enriched(m.value()), prefix)) for m in found]
    return sorted(rows, key=lambda row: (row[1]["event_id"], row[1]["version"]))


def items_state(config: WorkerConfig, group: str) -> dict[str, dict]:
    state = {}
    for p in range(PARTITIONS):
        table = read_changelog(config.kafka, changelog_topic(group, "items"), p)
        for key, value in table.items():
            original = decode_enriched(base64.b64decode(value["original"]))
            state[key] = {**value, "original": _plain(original, config.topic_prefix)}
    return state


def run(config: WorkerConfig, stages: tuple[str, ...], topic: str, expected: int):
    probe = Consumer(client_config(config.kafka, group_id=f"{config.topic_prefix}probe"))

    def count() -> int:
        return sum(
            max(0, high - low)
            for low, high in (
                probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in range(PARTITIONS)
            )
        )

    streams = build_app(replace(config, stages=stages))
    try:
        assert run_worker(streams, until=lambda: count() >= expected, timeout=120)
    finally:
        probe.close()
    return streams


def test_handed_over_records_leave_the_same_records_and_state_as_the_round_trip(
    kafka_bootstrap, tmp_path
):
    c = enterprise_codes(31)
    events = [
        registration(31, "宁夏甲乙贸易有限公司"),
        license_(c["uscc"], "JY1640422000031"),  # keyed by its USCC
        penalty(c["organisation_code"], "宁市监罚〔2024〕31号"),  # a legacy code: re-keyed
    ]
    configs = {}
    for path in ("direct", "kafka"):
        configs[path] = stage_config(
            kafka_bootstrap, tmp_path / path, f"h{path}", partitions=PARTITIONS, clock=lambda: NOW
        )

    # The registration first, then the rest: each category has its own intake topic, so a
    # record's enterprise name (canonical_name) depends on whether the registration was read
    # before it — the same in both paths only when the order is the same.
    direct, kafka = configs["direct"], configs["kafka"]
    publish(kafka_bootstrap, events[:1], direct.topic_prefix)
    publish(kafka_bootstrap, events[:1], kafka.topic_prefix)
    # One loop with both stages: the handoff.
    first = run(direct, ("intake", "items"), direct.topic(RECORDS), 1)
    publish(kafka_bootstrap, events[1:], direct.topic_prefix)
    rest = run(direct, ("intake", "items"), direct.topic(RECORDS), 3)
    taken = first.stage_loop.handoff.taken + rest.stage_loop.handoff.taken  # type: ignore[union-attr]
    assert taken == 3
    # The round trip: intake alone, then items alone (no handoff in either loop).
    run(kafka, ("intake",), kafka.topic(RESOLVED), 1)
    publish(kafka_bootstrap, events[1:], kafka.topic_prefix)
    run(kafka, ("intake",), kafka.topic(RESOLVED), 3)
    run(kafka, ("items",), kafka.topic(RECORDS), 3)

    # credit.resolved still holds every resolved record, keyed by its USCC — also the one
    # sent under its legacy code — marked when the items stage applied it already.
    for path, config in configs.items():
        resolved = everything(kafka_bootstrap, config.topic(RESOLVED))
        assert sorted(m.key().decode() for m in resolved) == [c["uscc"]] * 3
        marks = [dict(m.headers() or []).get(APPLIED_HEADER) for m in resolved]
        group = f"{config.topic_prefix}{config.app_id}".encode()
        assert marks == ([group] * 3 if path == "direct" else [None] * 3)

    assert records_of(kafka_bootstrap, direct.topic_prefix) == records_of(
        kafka_bootstrap, kafka.topic_prefix
    )
    state = items_state(direct, f"{direct.topic_prefix}{direct.app_id}")
    assert state == items_state(kafka, f"{kafka.topic_prefix}{kafka.app_id}")
    assert len(state) == 2  # the licence and the penalty
