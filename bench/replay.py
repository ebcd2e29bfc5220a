"""Replay: credit.records re-applied to a fresh ClickHouse database and a fresh Redis db.

Measured through the code `creditsync replay` runs (creditsync.ops.replay.replay_records,
with the sinks it opens), so the figure is the operator's, not a benchmark-only loop. The
rate is taken from the first batch read to the last batch written.
"""

from __future__ import annotations

import time
from typing import Any

from bench.env import BenchServices
from bench.stats import rate
from creditsync.ops.replay import close_sinks, open_replay_sinks, replay_records
from schemas.kafka.config import kafka_at


def replay_throughput(
    services: BenchServices,
    prefix: str,
    expected: int,
    clickhouse_database: str = "bench_replay",
    redis_db: int = 1,
    targets: tuple[str, ...] = ("clickhouse", "publicity"),
) -> dict[str, Any]:
    """Re-apply every record of `<prefix>credit.records` to `targets` (both sinks by
    default; each alone for the per-target figures); events/s."""
    sinks = open_replay_sinks(
        targets,
        clickhouse_dsn=services.chdb_dsn,
        database=clickhouse_database,
        redis_url=services.redis_url(redis_db),
    )
    marks: dict[str, float] = {}
    try:
        started = time.perf_counter()
        report = replay_records(
            kafka_at(services.bootstrap),
            prefix,
            sinks,
            start_ms=None,
            on_start=lambda _: marks.setdefault("start", time.perf_counter()),
        )
        end = time.perf_counter()
    finally:
        close_sinks(sinks)
    if report.read < expected:
        raise RuntimeError(f"replay: read {report.read} of {expected} records")
    # From the moment the partition ranges are known and reading begins.
    begin = marks.get("start", started)
    return {
        "events": report.read,
        "events_per_s": rate(report.read, end - begin),
        "seconds": round(end - begin, 3),
        "sinks": {name: tally.as_dict() for name, tally in report.sinks.items()},
    }
