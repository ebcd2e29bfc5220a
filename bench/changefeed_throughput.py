"""Rows per second through each change feed, measured on a real broker and Redis.

    python -m bench.changefeed_throughput --rows 20000 [--postgres-url URL]

Starts its own Kafka and Redis in a temporary directory (stopped by pid at the end) unless
--bootstrap/--redis-url name running ones; creates a prefixed set of topics; then times the
Debezium feed over N change events already on a source topic, and the SQL poller over N rows
of a SQLite file (and of PostgreSQL with --postgres-url). Figures, not assertions: DESIGN.md
"Performance is measured …, never asserted by timed tests".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import uuid
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import redis
import sqlalchemy as sa
from confluent_kafka import Producer

from creditsync import services
from creditsync.local import create_topics
from producers.changefeed.debezium_feed import DebeziumFeed
from producers.changefeed.mapping import parse_mapping
from producers.changefeed.publishing import FeedPublisher
from producers.changefeed.sql_poller import SqlPoller
from producers.publisher import KafkaPublisher
from schemas.identifiers import make_uscc
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import TopicSpec, topic_specs
from sinks.redis_client import open_redis

COLUMNS = {
    "credit_code": "统一社会信用代码（企业注册号）",
    "ent_name": "企业名称",
    "doc_no": "行政处罚决定书文号",
    "authority": "作出行政处罚决定机关名称",
    "decided_on": "作出行政处罚决定日期",
    "violation": "违法行为类型",
    "fine": "罚款金额",
    "kind": "处罚种类",
}


def _mapping(table: str, topic: str = "unused"):
    return parse_mapping(
        {
            "department": {"code": "bench-640000", "name": "测试部门"},
            "debezium": {"topics": [topic]},
            "tables": [
                {
                    "table": table,
                    "category": "penalty",
                    "key_columns": ["id"],
                    "sequence_column": "updated_at",
                    "columns": COLUMNS,
                }
            ],
        }
    )


def _row(n: int) -> dict:
    return {
        "id": n,
        "credit_code": make_uscc("9", "1", "640422", f"{60000000 + n % 5000:08d}"),
        "ent_name": "测试企业",
        "doc_no": f"宁环罚〔2024〕{n}号",
        "authority": "宁夏回族自治区生态环境厅",
        "decided_on": dt.date(2024, 3, 4),
        "violation": "超标排放",
        "fine": Decimal("1000.00"),
        "kind": "罚款",
        "updated_at": dt.datetime(2024, 3, 4) + dt.timedelta(seconds=n // 3),
    }


def _publisher(bootstrap: str, client: redis.Redis, prefix: str) -> FeedPublisher:
    return FeedPublisher(
        KafkaPublisher(kafka_at(bootstrap)), client, "bench-640000", topic_prefix=prefix
    )


def measure_debezium(bootstrap: str, client: redis.Redis, rows: int) -> float:
    prefix = f"b{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}hbdb.public.penalties"
    create_topics(
        kafka_at(bootstrap), [*topic_specs(prefix, partitions=4), TopicSpec(topic, 4, -1)]
    )
    producer = Producer(client_config(kafka_at(bootstrap), linger_ms=20))
    for n in range(rows):
        after = {**_row(n), "decided_on": 19786, "fine": "1000.00", "updated_at": None}
        value = {"before": None, "after": after, "op": "c", "ts_ms": 1709600000000 + n,
                 "source": {"schema": "public", "table": "penalties", "lsn": 1000 + n}}  # fmt: skip
        producer.produce(topic, key=str(n).encode(), value=json.dumps(value).encode())
        producer.poll(0)
    producer.flush(60)
    sink = _publisher(bootstrap, client, prefix)
    feed = DebeziumFeed(
        _mapping("public.penalties", topic), kafka_at(bootstrap), sink, batch_size=2000
    )
    start = time.perf_counter()
    stats = feed.run(until_idle=True, timeout=600)
    elapsed = time.perf_counter() - start
    sink.publisher.close()
    _check(stats.published, rows, stats.summary())
    return rows / elapsed


def measure_poller(url: str, bootstrap: str, client: redis.Redis, rows: int, data: Path) -> float:
    prefix = f"b{uuid.uuid4().hex[:8]}."
    create_topics(kafka_at(bootstrap), topic_specs(prefix, partitions=4))
    name = f"penalties_{prefix.strip('.')}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        name,
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(c, sa.String(200)) for c in COLUMNS if c not in ("decided_on", "fine")),
        sa.Column("decided_on", sa.Date),
        sa.Column("fine", sa.Numeric(14, 2)),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [_row(n) for n in range(rows)])
    sink = _publisher(bootstrap, client, prefix)
    poller = SqlPoller(_mapping(name), engine, sink, data, batch_size=2000, settle_seconds=0)
    start = time.perf_counter()
    stats = poller.poll_once()
    elapsed = time.perf_counter() - start
    sink.publisher.close()
    engine.dispose()
    _check(stats.published, rows, stats.summary())
    return rows / elapsed


def _check(published: int, rows: int, summary: str) -> None:
    if published != rows:
        raise SystemExit(f"expected {rows} rows published, the feed says: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--bootstrap")
    parser.add_argument("--redis-url")
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bootstrap, redis_url = args.bootstrap, args.redis_url
        if not bootstrap:
            port = services.free_port()
            kafka = services.start_kafka(root / "kafka", port, services.free_port())
            stack.callback(kafka.stop)
            bootstrap = f"127.0.0.1:{port}"
        if not redis_url:
            port = services.free_port()
            stack.callback(services.start_redis(root / "redis", port).stop)
            redis_url = f"redis://127.0.0.1:{port}/0"
        client = open_redis(redis_url)
        stack.callback(client.close)
        rate = measure_debezium(bootstrap, client, args.rows)
        print(f"debezium feed: {args.rows} change events, {rate:,.0f} rows/s")
        url = f"sqlite:///{root / 'bench.db'}"
        rate = measure_poller(url, bootstrap, client, args.rows, root / "data")
        print(f"sql poller (SQLite): {args.rows} rows, {rate:,.0f} rows/s")
        if args.postgres_url:
            rate = measure_poller(args.postgres_url, bootstrap, client, args.rows, root / "pg")
            print(f"sql poller (PostgreSQL): {args.rows} rows, {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
