"""Stage 3: credit.records -> ClickHouse and the Redis publicity index.

Each sink runs its own consumer loop (`streams.sink_loop`) on a thread of its own, with a
consumer group of its own: a batch is written, its refused records are delivered to
credit.rejected with the sink's reason, and only then are its offsets committed. A sink that
is unavailable or overloaded is retried with the same batch (nothing moves past it). The loops
live inside the Faust worker so that `creditsync run` and `creditsync worker` start and stop
them with the stream stages; a loop that fails crashes the worker loudly.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from schemas.codec import decode_enriched
from schemas.dead_letters import rejected_topic
from schemas.topics import RECORDS
from streams.app import CreditStreams, WorkerConfig, supervise
from streams.metrics import observe_batch
from streams.shared_decodes import SharedDecodes
from streams.sink_loop import SinkLoop, run_in_thread, sink_group

SINK_NAMES = {"ClickHouseSink": "clickhouse", "PublicityIndex": "publicity"}


class SerialSink:
    """A sink used from several threads, one call at a time.

    The ClickHouse sink is shared by its sink loop and the operations agent (chdb has one
    owner per process) and keeps a per-call buffer, so calls must not interleave."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.name = type(sink).__name__
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sink, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


def open_sinks(cfg: WorkerConfig) -> list[Any]:
    """The sinks this worker writes to, set up (schema created, scripts loaded)."""
    sinks: list[Any] = []
    if cfg.clickhouse_dsn:
        from sinks.clickhouse import ClickHouseSink, connect_clickhouse

        sinks.append(
            ClickHouseSink(connect_clickhouse(cfg.clickhouse_dsn, cfg.clickhouse_database))
        )
    if cfg.redis_url:
        import redis

        from sinks.publicity import PublicityIndex

        sinks.append(PublicityIndex(redis.Redis.from_url(cfg.redis_url)))
    for sink in sinks:
        sink.setup()
    return [SerialSink(s) for s in sinks]


def sink_loops(cfg: WorkerConfig, sinks: list[Any]) -> list[SinkLoop]:
    """One loop per sink, each in its own consumer group."""

    def observe(sink: Any, result: Any, records: list[Any]) -> None:
        observe_batch(sink.name, result, records, cfg.clock())

    decodes = SharedDecodes(len(sinks), decode_enriched)
    return [
        SinkLoop(
            sink=sink,
            topic=cfg.topic(RECORDS),
            group=sink_group(f"{cfg.topic_prefix}{cfg.app_id}", SINK_NAMES[sink.name]),
            bootstrap=cfg.bootstrap,
            rejected_topic=rejected_topic(cfg.topic_prefix),
            batch_size=cfg.sink_batch_size,
            flush_seconds=cfg.sink_flush_seconds,
            on_batch=observe,
            eager=sink.name == "PublicityIndex",
            decodes=decodes,
        )
        for sink in sinks
    ]


def install(streams: CreditStreams) -> None:
    app, cfg = streams.app, streams.config
    clickhouse: list[Any] = []  # the ClickHouse sink, shared with the operations stage

    if cfg.clickhouse_dsn:
        from streams import operations_stage

        operations_stage.install(streams, clickhouse)

    @app.task
    async def run_sink_loops() -> None:
        opened = await asyncio.to_thread(open_sinks, cfg)
        clickhouse.extend(s for s in opened if s.name == "ClickHouseSink")
        stop = threading.Event()
        threads = [
            run_in_thread(loop, stop, f"sink-{loop.sink.name}") for loop in sink_loops(cfg, opened)
        ]
        await supervise(app, threads, stop)
