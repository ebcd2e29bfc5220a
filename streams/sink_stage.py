"""Stage 3: credit.records -> ClickHouse and the Redis publicity index, plus operations.

Each sink runs its own consumer loop (`streams.runtime.sink_loop`) on a thread of its own, with a
consumer group of its own: a batch is written, its refused records are delivered to
credit.rejected with the sink's reason, and only then are its offsets committed. A sink that
is unavailable or overloaded is retried with the same batch (nothing moves past it). With
ClickHouse on, one more loop of the same kind copies the operational topics into it
(`streams.operations_stage`). The worker's supervisor (`streams.runtime.supervisor`) starts and
stops them with the stream stages; a loop that fails stops the worker loudly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.codec import decode_enriched
from schemas.dead_letters import rejected_topic
from schemas.topics import RECORDS
from sinks.base import Sink, SinkResult
from streams.config import WorkerConfig
from streams.runtime.messages import ReceivedMessage
from streams.runtime.metrics import observe_batch
from streams.runtime.shared_decodes import SharedDecodes
from streams.runtime.sink_loop import SinkLoop, sink_group

SINK_NAMES = {"ClickHouseSink": "clickhouse", "PublicityIndex": "publicity"}


def sinks_of(stages: tuple[str, ...]) -> tuple[str, ...]:
    """The sinks named by a worker's stages: `sinks` is both, `clickhouse` (with the
    operations loop) or `publicity` one of them, for a process of its own (creditsync run)."""
    if "sinks" in stages:
        return ("clickhouse", "publicity")
    return tuple(name for name in ("clickhouse", "publicity") if name in stages)


def open_sinks(
    cfg: WorkerConfig, names: tuple[str, ...] = ("clickhouse", "publicity")
) -> list[Sink]:
    """The sinks this worker writes to, set up (schema created, scripts loaded)."""
    sinks: list[Sink] = []
    if cfg.clickhouse_dsn and "clickhouse" in names:
        from sinks.clickhouse import ClickHouseSink, connect_clickhouse

        sinks.append(
            ClickHouseSink(connect_clickhouse(cfg.clickhouse_dsn, cfg.clickhouse_database))
        )
    if cfg.redis_url and "publicity" in names:
        from sinks.publicity import PublicityIndex
        from sinks.redis_client import open_redis

        sinks.append(PublicityIndex(open_redis(cfg.redis_url)))
    for sink in sinks:
        sink.setup()
    return sinks


def written_at(message: ReceivedMessage) -> dt.datetime:
    """When a consumed message was written to Kafka (its timestamp, milliseconds)."""
    return dt.datetime.fromtimestamp(message.timestamp()[1] / 1000, dt.UTC)


def sink_loops(cfg: WorkerConfig, sinks: list[Sink]) -> list[tuple[str, SinkLoop]]:
    """One named loop per sink, each in its own consumer group; with ClickHouse, also the
    operations loop, which shares the ClickHouse sink (its writes take the sink's lock)."""

    def observe(sink: Sink, result: SinkResult, records: list[Any]) -> None:
        if records and not isinstance(records[0], dict):
            # Undecoded messages (native ClickHouse): timed from when enrichment wrote the
            # record to credit.records (the message timestamp), not from emitted_at.
            records = [{"emitted_at": written_at(m)} for m in records]
        observe_batch(type(sink).__name__, result, records, cfg.clock())

    def takes_messages(sink: Any) -> bool:
        # The native ClickHouse path loads the messages undecoded (sinks/clickhouse/native.py).
        return bool(getattr(sink, "native", False))

    app_group = f"{cfg.topic_prefix}{cfg.app_id}"
    decodes = SharedDecodes(sum(not takes_messages(s) for s in sinks), decode_enriched)
    loops = []
    for sink in sinks:
        name = SINK_NAMES[type(sink).__name__]
        clickhouse = name == "clickhouse"
        loop = SinkLoop(
            sink=sink,
            topics=[cfg.topic(RECORDS)],
            group=sink_group(app_group, name),
            kafka=cfg.kafka,
            rejected_topic=rejected_topic(cfg.topic_prefix),
            # ClickHouse: few large inserts (SinkLoop.gather_seconds says why).
            batch_size=cfg.clickhouse_batch_size if clickhouse else cfg.sink_batch_size,
            flush_seconds=cfg.sink_flush_seconds,
            on_batch=observe,
            eager=name == "publicity",
            decodes=None if takes_messages(sink) else decodes,
            gather_seconds=cfg.clickhouse_gather_seconds if clickhouse else None,
        )
        loops.append((f"sink-{name}", loop))
    clickhouse_sinks = [s for s in sinks if type(s).__name__ == "ClickHouseSink"]
    if clickhouse_sinks:
        from streams.operations_stage import operations_loop

        loops.append(("operations", operations_loop(cfg, clickhouse_sinks[0])))
    return loops
