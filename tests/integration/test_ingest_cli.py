"""`creditsync ingest` on the real broker: samples published, bad rows rejected with reasons,
the same file again publishes nothing new, and the control totals arrive."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from creditsync.local import create_topics
from schemas.codec import decode_intake
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import CONTROL_TOTALS, REJECTED, intake_topic, topic_specs

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"


def ingest(path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "creditsync",
            "ingest",
            str(path),
            "--department",
            "scjg-640000",
            *extra,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def drain(bootstrap: str, topic: str, group: str) -> list:
    """Everything on the topic now (assigned from the start: no group join to wait for)."""
    consumer = Consumer(client_config(kafka_at(bootstrap), group_id=group))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found, idle = [], 0
    try:
        while idle < 6:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 1
            elif msg.error() is None:
                found.append(msg)
                idle = 0
    finally:
        consumer.close()
    return found


def test_ingest_publishes_rejects_with_reasons_and_is_idempotent(
    kafka_bootstrap, redis_url, redis_client, topic_prefix, tmp_path
):
    create_topics(kafka_at(kafka_bootstrap), topic_specs(topic_prefix, partitions=2))
    env = {
        "CREDITSYNC_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CREDITSYNC_REDIS_URL": redis_url,
        "CREDITSYNC_TOPIC_PREFIX": topic_prefix,
    }
    sample = tmp_path / "penalty.csv"
    sample.write_bytes((SAMPLES / "penalty.csv").read_bytes())
    with sample.open(encoding="utf-8-sig") as f:
        rows = sum(1 for _ in csv.reader(f)) - 1

    first = ingest(sample, env)
    assert first.returncode == 3, first.stdout + first.stderr  # some rows rejected
    rejected_file = Path(f"{sample}.rejected.csv")
    with rejected_file.open(encoding="utf-8-sig") as f:
        rejections = list(csv.DictReader(f))
    assert rejections, "the sample's invalid row must be in the rejections file"
    assert all(r["错误原因"] and r["错误字段"] and r["行号"] for r in rejections)

    published = drain(kafka_bootstrap, intake_topic("penalty", topic_prefix), f"{topic_prefix}a")
    events = [decode_intake(m.value()) for m in published]
    assert len(events) + len(rejections) == rows, "every row published or rejected"
    assert all(e["category"] == "penalty" for e in events)
    dead = drain(kafka_bootstrap, f"{topic_prefix}{REJECTED}", f"{topic_prefix}b")
    assert len(dead) == len(rejections)
    assert dict(dead[0].headers())["creditsync.reason_code"]

    second = ingest(sample, env)
    assert second.returncode == 3
    assert "nothing new" in second.stdout, second.stdout
    again = drain(kafka_bootstrap, intake_topic("penalty", topic_prefix), f"{topic_prefix}c")
    assert len(again) == len(events), "re-ingesting the same file published again"

    totals = drain(kafka_bootstrap, f"{topic_prefix}{CONTROL_TOTALS}", f"{topic_prefix}d")
    first_totals = json.loads(totals[0].value())
    # The sample has no trailer row or sidecar: the department declared nothing (issue #16),
    # and what the adapter read is "received".
    assert first_totals["declared"] is None
    assert first_totals["received"] == rows
    assert first_totals["published"] == len(events)
    assert first_totals["rejected"] == len(rejections)
    assert json.loads(totals[1].value())["already_published"] == len(events)
