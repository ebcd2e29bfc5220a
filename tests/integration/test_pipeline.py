"""End to end on the real services: intake topics -> streams -> ClickHouse and Redis.

Each test has its own topic prefix, consumer group and ClickHouse database; the worker runs
in-process and stops when what a user would see is there (or a hard timeout passes).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from confluent_kafka import Consumer

from creditsync.local import create_topics
from schemas.topics import REJECTED, topic_specs
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from streams.app import WorkerConfig, build_app
from streams.worker import run_worker
from tests.intake_factory import (
    enterprise_codes,
    license_,
    penalty,
    publish,
    registration,
    restriction,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(kafka_bootstrap, redis_url, redis_client, chdb_dsn, clickhouse_database,
             topic_prefix, tmp_path):  # fmt: skip
    create_topics(kafka_bootstrap, topic_specs(topic_prefix, partitions=4))
    config = WorkerConfig(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path,
        topic_prefix=topic_prefix,
        redis_url=redis_url,
        clickhouse_dsn=chdb_dsn,
        clickhouse_database=clickhouse_database,
        sink_flush_seconds=0.3,
    )
    return config


def run_until(config: WorkerConfig, condition, timeout: float = 90.0) -> bool:
    async def main() -> bool:
        return await run_worker(build_app(config), until=condition, timeout=timeout)

    return asyncio.run(main())


def rejected_messages(bootstrap: str, prefix: str, expected: int) -> list[Any]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}check",
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([f"{prefix}{REJECTED}"])
    found = []
    try:
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(msg)
            if len(found) >= expected:
                break
    finally:
        consumer.close()
    return found


def count(client, database: str, sql: str) -> int:
    return int(client.query(sql.replace("{db}", database)).result_rows[0][0])


def test_records_reach_both_stores_once_and_legacy_codes_resolve(pipeline, redis_client):
    a, b = enterprise_codes(1), enterprise_codes(2)
    events = [
        registration(1, "宁夏甲商贸有限公司"),
        license_(a["uscc"], "JY16404220000001"),
        # B is known only by its registration number, and registers after the penalty.
        penalty(b["registration_number"], "西市监罚〔2024〕12号"),
        restriction(a["uscc"]),
    ]
    publish(pipeline.bootstrap, events, pipeline.topic_prefix)
    reader = PublicityReader(redis_client)

    def b_visible() -> bool:
        profile = reader.profile(b["uscc"])
        return bool(profile and profile.get("items", {}).get("penalty"))

    # B's penalty is parked: it cannot be visible before B's registration arrives.
    def a_complete() -> bool:
        profile = reader.profile(a["uscc"])
        items = (profile or {}).get("items", {})
        return bool(items.get("license") and items.get("restriction"))

    assert run_until(pipeline, a_complete), "A's licence and restriction never became visible"
    assert not b_visible()

    publish(pipeline.bootstrap, [registration(2, "宁夏乙餐饮有限公司")], pipeline.topic_prefix)
    assert run_until(pipeline, b_visible), "B's parked penalty was not released"

    profile_b = reader.profile(b["registration_number"])
    assert profile_b["name"] == "宁夏乙餐饮有限公司"
    assert profile_b["codes"]["uscc"] == b["uscc"]
    profile_a = reader.profile(a["uscc"])
    assert "64042219800101123X" not in json.dumps(profile_a, ensure_ascii=False)

    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    db = pipeline.clickhouse_database
    assert count(client, db, "SELECT count() FROM {db}.license FINAL") == 1
    assert count(client, db, "SELECT count() FROM {db}.penalty FINAL") == 1

    # A second run over the same topics with the same group re-applies nothing new.
    publish(pipeline.bootstrap, [license_(a["uscc"], "JY16404220000002")],
            pipeline.topic_prefix)  # fmt: skip

    def second_licence() -> bool:
        return count(client, db, "SELECT count() FROM {db}.license FINAL") == 2

    assert run_until(pipeline, second_licence)
    assert count(client, db, "SELECT count() FROM {db}.penalty FINAL") == 1
    assert count(client, db, "SELECT count() FROM {db}.penalty") == 1
