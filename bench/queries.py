"""Query latency at scale: profile look-up and name search in Redis, dashboard views in chdb.

The index is filled directly through `PublicityIndex.write_batch` (the sink's own code path)
with registrations and a penalty for every second enterprise; the dashboard tables with
`INSERT … SELECT FROM numbers()`, which writes millions of plausible rows in seconds.
Every query is timed on its own, from the caller's side, as the HTTP API would see it.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from bench.stats import latency_summary, percentile
from bench.workload import enterprise_name
from sinks import ClickHouseSink, PublicityIndex, PublicityReader, connect_clickhouse
from sinks.clickhouse.migrations import m0002_views

# make_enriched (tests/factories.py) builds valid EnrichedRecords; tests/ is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.factories import make_enriched

WRITE_BATCH = 5000
REGIONS = ("640422", "640104", "110105")
Tick = Callable[[int], None]


def index_records(count: int) -> Iterator[list[Any]]:
    """Batches of registrations (and a penalty for every second enterprise) for `count`
    enterprises with distinct, realistic names."""
    batch: list[Any] = []
    for n in range(1, count + 1):
        region = REGIONS[n % len(REGIONS)]
        name = enterprise_name(n)
        record = make_enriched("registration", n=n, region_code=region, payload={"name": name})
        record["canonical_name"] = name
        batch.append(record)
        if n % 2 == 0:
            batch.append(make_enriched("penalty", n=n, region_code=region, canonical_name=name))
        if len(batch) >= WRITE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill_index(client: redis.Redis, enterprises: int, tick: Tick | None = None) -> float:
    """Write the index; the write rate in records/s (registrations and penalties)."""
    index = PublicityIndex(client)
    index.setup()
    written, start = 0, time.perf_counter()
    for batch in index_records(enterprises):
        index.write_batch(batch)
        written += len(batch)
        if tick:
            tick(sum(1 for r in batch if r["category"] == "registration"))
    return round(written / (time.perf_counter() - start), 1)


def _timed(fn: Callable[[str], object], queries: list[str]) -> list[float]:
    samples = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - start)
    return samples


def query_latency(
    client: redis.Redis, enterprises: int, queries: int, seed: int = 20240603
) -> dict[str, Any]:
    """Look-ups by each kind of code and searches by exact name, prefix, substring and code
    prefix, over `queries` enterprises picked at random; p50/p95/p99 per kind and overall."""
    from tests.factories import make_codes

    rng = random.Random(seed)
    picked = [rng.randrange(1, enterprises + 1) for _ in range(queries)]
    codes = [make_codes(n, REGIONS[n % len(REGIONS)]) for n in picked]
    names = [enterprise_name(n) for n in picked]
    reader = PublicityReader(client)
    # Codes as people type them: mostly the USCC, some legacy codes (新旧码映射).
    lookup_codes = [
        c["uscc"]
        if i % 10 < 8
        else c["registration_number"]
        if i % 10 == 8
        else c["organisation_code"]
        for i, c in enumerate(codes)
    ]
    lookups = _timed(reader.profile, lookup_codes)
    missing = sum(1 for code in lookup_codes[:50] if reader.profile(code) is None)
    if missing:
        raise RuntimeError(f"query bench: {missing} of 50 sampled enterprises not found")
    kinds = {
        "exact name": names,
        "name prefix (4 chars)": [n[:4] for n in names],
        "substring (3 chars)": [n[2:5] for n in names],
        "code prefix (10)": [c["uscc"][:10] for c in codes],
    }
    search_samples: dict[str, list[float]] = {
        k: _timed(reader.search, qs) for k, qs in kinds.items()
    }
    every_search = [s for samples in search_samples.values() for s in samples]
    return {
        "enterprises": enterprises,
        "lookup": latency_summary(lookups),
        "search": latency_summary(every_search),
        "search_by_kind": {k: latency_summary(v) for k, v in search_samples.items()},
        "redis_used_memory_mb": round(int(client.info("memory")["used_memory"]) / 2**20, 1),
    }


# Rows for the dashboard views: `{n}` is the row count. Columns left out take defaults.
_RAW = """INSERT INTO records_raw (event_id, version, version_number, operation,
    publication_status, uscc, record_key, canonical_name, region_code, province,
    department_code, department_name, emitted_at, processed_at, deadline_met, category)
SELECT toString(generateUUIDv4()), toString(number), number, 'upsert',
    if(number % 10 = 0, 'expired', 'public'), concat('9164', leftPad(toString(number % 1000000), 14, '0')),
    toString(number), concat('企业', toString(number % 1000000)),
    ['640422', '640104', '110105', '310115'][number % 4 + 1],
    ['宁夏回族自治区', '宁夏回族自治区', '北京市', '上海市'][number % 4 + 1],
    concat('dept-', toString(number % 40)), concat('部门', toString(number % 40)),
    toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % 31536000),
    toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % 31536000 + 5),
    if(number % 7 = 0, NULL, number % 9 != 0),
    ['license', 'penalty', 'inspection', 'restriction', 'abnormal_operation', 'red_list'][number % 6 + 1]
FROM numbers({n})"""  # noqa: E501
_RESTRICTION = """INSERT INTO restriction (event_id, version, version_number, operation,
    publication_status, uscc, record_key, region_code, province, prefecture, county,
    information_type)
SELECT toString(number), toString(number), number, 'upsert', 'public',
    concat('9164', leftPad(toString(number % 1000000), 14, '0')), toString(number),
    ['640422', '640104', '110105'][number % 3 + 1], ['宁夏回族自治区', '宁夏回族自治区', '北京市'][number % 3 + 1],
    ['固原市', '银川市', '市辖区'][number % 3 + 1], ['西吉县', '兴庆区', '朝阳区'][number % 3 + 1],
    ['严重违法失信企业名单', '失信被执行人', '经营异常名录'][number % 3 + 1]
FROM numbers({n})"""  # noqa: E501
_SMALL = [
    """INSERT INTO rejections (rejection_id, department_code, category, reason_code, emitted_at)
SELECT toString(number), concat('dept-', toString(number % 40)), 'penalty',
    ['invalid_code', 'required', 'undecodable'][number % 3 + 1],
    toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % 31536000)
FROM numbers({n})""",
    """INSERT INTO parked (event_id, department_code, category, reason_code, status, emitted_at)
SELECT toString(number), concat('dept-', toString(number % 40)), 'license', 'unknown_code',
    if(number % 3 = 0, 'released', 'parked'),
    toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % 31536000)
FROM numbers({n})""",
    """INSERT INTO notices (notice_id, department_code, department_name, uscc, initiated_on, stage)
SELECT toString(number), concat('dept-', toString(number % 12)),
    concat('部门', toString(number % 12)), toString(number),
    toDate('2024-01-01') + number % 365, ['initiated', 'responded', 'fed_back'][number % 3 + 1]
FROM numbers({n})""",
    """INSERT INTO control_totals (department_code, day, category, declared, batch_id)
SELECT concat('dept-', toString(number % 40)), toDate('2024-01-01') + intDiv(number, 40) % 365,
    'penalty', 100, toString(number)
FROM numbers({n})""",
]


def view_names() -> list[str]:
    """The dashboard views of migration 2, in their order."""
    return [m.group(1) for s in m0002_views.STATEMENTS if (m := re.search(r"VIEW\s+(\w+)", s))]


def dashboard_latency(
    dsn: str, rows: int, runs: int = 5, database: str = "bench_views"
) -> dict[str, Any]:
    """Fill the history tables with `rows` records (a tenth of them restrictions, a
    hundredth operational rows) and time `SELECT * FROM <view>` `runs` times each."""
    sink = ClickHouseSink(connect_clickhouse(dsn, database))
    sink.setup()
    client = sink.client
    try:
        start = time.perf_counter()
        client.command(_RAW.format(n=rows))
        client.command(_RESTRICTION.format(n=rows // 10))
        for statement in _SMALL:
            client.command(statement.format(n=max(1, rows // 100)))
        fill_s = time.perf_counter() - start
        views: dict[str, Any] = {}
        for view in view_names():
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                result = client.query(f"SELECT * FROM {view}")
                samples.append(time.perf_counter() - started)
            views[view] = {
                "p50_ms": round(percentile(samples, 50) * 1000, 1),
                "rows_returned": len(result.result_rows),
            }
        counted = int(client.query("SELECT count() FROM records_raw").result_rows[0][0])
    finally:
        sink.close()
    return {"rows": counted, "fill_seconds": round(fill_s, 1), "runs": runs, "views": views}
