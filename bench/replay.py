"""Replay: credit.records re-applied to a fresh ClickHouse database and a fresh Redis db.

This is the loop `creditsync replay` runs (DESIGN.md): read credit.records from the start
in batches, decode, and hand each batch to both sinks' `write_batch` — the two writes run
side by side in threads, since chdb and the Redis socket both release the GIL while they
work. The benchmark keeps its own minimal loop so it measures the sinks, not a CLI.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from confluent_kafka import Consumer

from bench.env import BenchServices
from bench.stats import rate
from schemas.codec import codec_for
from schemas.topics import RECORDS
from sinks import ClickHouseSink, PublicityIndex, connect_clickhouse

BATCH = 5000


def replay_throughput(services: BenchServices, prefix: str, expected: int,
                      clickhouse_database: str = "bench_replay", redis_db: int = 1,
                      timeout: float = 300) -> dict[str, Any]:  # fmt: skip
    """Re-apply `expected` records of `<prefix>credit.records` to both sinks; events/s."""
    codec = codec_for("EnrichedRecord")
    clickhouse = ClickHouseSink(connect_clickhouse(services.chdb_dsn, clickhouse_database))
    publicity = PublicityIndex(redis.Redis.from_url(services.redis_url(redis_db)))
    clickhouse.setup()
    publicity.setup()
    consumer = Consumer({"bootstrap.servers": services.bootstrap,
                         "group.id": f"{prefix}bench-replay", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([f"{prefix}{RECORDS}"])
    applied = {"clickhouse": 0, "publicity": 0}
    done, first, decode_s = 0, None, 0.0
    deadline = time.monotonic() + timeout
    try:
        with ThreadPoolExecutor(2, thread_name_prefix="bench-replay") as pool:
            while done < expected and time.monotonic() < deadline:
                batch = [m for m in consumer.consume(BATCH, timeout=1.0) if m.error() is None]
                if not batch:
                    continue
                first = first or time.perf_counter()
                started = time.perf_counter()
                records = codec.decode_many([m.value() for m in batch])
                decode_s += time.perf_counter() - started
                ch = pool.submit(clickhouse.write_batch, records)
                pub = pool.submit(publicity.write_batch, records)
                applied["clickhouse"] += ch.result().applied
                applied["publicity"] += pub.result().total
                done += len(records)
            end = time.perf_counter()
    finally:
        consumer.close()
        clickhouse.close()
        publicity.close()
    if done < expected:
        raise RuntimeError(f"replay: {done} of {expected} records re-applied within {timeout}s")
    return {
        "events": done,
        "events_per_s": rate(done, end - (first or end)),
        "decode_share": round(decode_s / (end - (first or end)), 3),
        "clickhouse_applied": applied["clickhouse"],
        "publicity_handled": applied["publicity"],
    }
