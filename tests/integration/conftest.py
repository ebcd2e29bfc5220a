"""Fixtures of the integration tests: a worker configuration on the session's services."""

from __future__ import annotations

import pytest

from creditsync.local import create_topics
from schemas.kafka.config import kafka_at
from schemas.topics import topic_specs
from streams.app import WorkerConfig
from tests.conftest import TEST_HASH_KEY


@pytest.fixture
def pipeline(
    kafka_bootstrap, redis_url, redis_client, chdb_dsn, clickhouse_database, topic_prefix, tmp_path
):
    create_topics(kafka_at(kafka_bootstrap), topic_specs(topic_prefix, partitions=4))
    config = WorkerConfig(
        kafka=kafka_at(kafka_bootstrap),
        data_dir=tmp_path,
        topic_prefix=topic_prefix,
        redis_url=redis_url,
        clickhouse_dsn=chdb_dsn,
        clickhouse_database=clickhouse_database,
        sink_flush_seconds=0.3,
        pii_key=TEST_HASH_KEY.encode(),
    )
    return config
