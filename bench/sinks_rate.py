"""Sink throughput and read latency: rows/s into ClickHouse (chdb), profiles/s into Redis,
and look-up / search p50 and p99 with N enterprises indexed. Not part of the test run.

    python bench/sinks_rate.py [--records 100000] [--batch 5000] [--queries 1000]

Starts its own redis-server and chdb directory in a temporary folder and stops the server by
its pid at the end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from creditsync import services
from sinks import ClickHouseSink, PublicityIndex, PublicityReader, connect_clickhouse

# The record factory lives in tests/, which is not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.factories import make_enriched

PLACES = ["宁夏", "银川", "固原", "西吉", "吴忠", "中卫", "石嘴山", "彭阳", "隆德", "同心"]
INDUSTRIES = ["商贸", "科技", "餐饮", "建材", "农业", "物流", "建筑工程", "食品", "文化传媒",
              "房地产开发", "劳务", "汽车销售", "医药", "能源", "电子"]  # fmt: skip
SUFFIXES = ["有限公司", "有限责任公司", "股份有限公司", "专业合作社", "商行"]
# Common characters brands are made of, so bigram sets have a realistic spread.
BRAND = "鑫源泰华盛兴隆昌达通宏鼎恒瑞丰祥瑞金银天地宝嘉佳新旺福禄寿明德信诚和众合美安康永润"
CATEGORIES = ["registration"] * 4 + ["penalty", "license", "inspection", "restriction",
                                      "abnormal_operation", "red_list"]  # fmt: skip
REGIONS = ["640422", "640104", "110105"]


def company_name(rng: random.Random) -> str:
    brand = "".join(rng.choice(BRAND) for _ in range(rng.choice((2, 2, 3))))
    return rng.choice(PLACES) + brand + rng.choice(INDUSTRIES) + rng.choice(SUFFIXES)


def make_records(count: int, rng: random.Random) -> list:
    records = []
    for n in range(1, count + 1):
        category = rng.choice(CATEGORIES)
        name = company_name(rng)
        overrides = {"payload": {"name": name}} if category == "registration" else {}
        record = make_enriched(category, n=n, region_code=rng.choice(REGIONS), **overrides)
        record["canonical_name"] = name
        records.append(record)
    return records


def timed_batches(label: str, write: Callable[[list], object], records: list, batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        write(records[i : i + batch])
        done = min(i + batch, len(records))
        print(f"\r  {label}: {done:,}/{len(records):,}", end="", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    print(file=sys.stderr)
    return elapsed


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def latency(fn: Callable[[str], object], queries: list[str]) -> tuple[float, float]:
    samples = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(20240603)
    work = Path(tempfile.mkdtemp(prefix="creditsync-bench-"))
    print(f"generating {args.records:,} records …", file=sys.stderr)
    records = make_records(args.records, rng)

    port = services.free_port()
    managed = services.start_redis(work / "redis", port)
    try:
        client = redis.Redis(port=port)
        index = PublicityIndex(client)
        index.setup()
        redis_s = timed_batches("redis", index.write_batch, records, args.batch)
        used = int(client.info("memory")["used_memory"])
        reader = PublicityReader(client)
        sample = rng.sample(records, min(args.queries, len(records)))
        codes = [r["uscc"] for r in sample]
        names = [r["canonical_name"] for r in sample]
        lookups = {
            "profile by USCC": (reader.profile, codes),
            "search exact name": (reader.search, names),
            "search prefix (4 chars)": (reader.search, [n[:4] for n in names]),
            "search substring (3 chars)": (reader.search, [n[2:5] for n in names]),
            "search common bigram 公司": (reader.search, ["公司"] * len(names)),
            "search code prefix (10)": (reader.search, [c[:10] for c in codes]),
            "list page (region 6404)": (
                lambda q: reader.list_page("restriction", region="6404", page=1 + len(q) % 5),
                names,
            ),
        }
        results = {label: latency(fn, qs) for label, (fn, qs) in lookups.items()}
        stats = reader.index_stats()
        client.close()
    finally:
        managed.stop()

    sink = ClickHouseSink(connect_clickhouse(f"chdb://{work / 'clickhouse'}", "bench"))
    sink.setup()
    ch_s = timed_batches("clickhouse", sink.write_batch, records, args.batch)
    raw = sink.client.query("SELECT count() FROM records_raw FINAL").result_rows[0][0]
    sink.close()

    print(f"records: {len(records):,} in batches of {args.batch:,}")
    print(f"ClickHouse (chdb): {len(records) / ch_s:,.0f} records/s ({ch_s:.1f}s; "
          f"records_raw FINAL = {raw:,})")  # fmt: skip
    print(f"Redis publicity:   {len(records) / redis_s:,.0f} records/s ({redis_s:.1f}s; "
          f"{stats['enterprises']:,} enterprises, {used / 2**20:,.0f} MiB)")  # fmt: skip
    print(f"read latency over {args.queries:,} queries each (ms):")
    for label, (p50, p99) in results.items():
        print(f"  {label:28s} p50 {p50:6.2f}  p99 {p99:6.2f}")


if __name__ == "__main__":
    main()
