"""Stage 3 agent: credit.records -> ClickHouse and the Redis publicity index.

One batch per `take_events` round, written to both sinks (each one round trip); the batch is
acknowledged — so its offsets can be committed — only after both writes succeeded. A sink
that is unavailable or overloaded is retried with the same batch (nothing moves past it);
records a sink refuses one by one go to credit.rejected with the sink's reason.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import faust

from schemas.codec import decode_enriched
from schemas.dead_letters import Rejection, rejected_topic
from sinks.errors import Backpressure, IndexLost, SinkUnavailable
from streams.app import CreditStreams, WorkerConfig
from streams.faust_support import fail_loudly, send_dead_letter
from streams.metrics import observe_batch

log = logging.getLogger(__name__)
MAX_RETRY_DELAY = 30.0


class SerialSink:
    """A sink used from several agents' threads, one call at a time.

    The ClickHouse sink is shared by the records agent and the operations agent (chdb has
    one owner per process) and keeps a per-call buffer, so calls must not interleave."""

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


async def write_with_retry(sink: Any, records: list[Any]) -> Any:
    """Write one batch, retrying operational failures and overload with backoff."""
    delay = 0.5
    while True:
        try:
            return await asyncio.to_thread(sink.write_batch, records)
        except Backpressure as exc:
            log.warning("%s; retrying the same batch", exc)
            await asyncio.sleep(exc.retry_after)
        except IndexLost as exc:
            # Not a passing outage: what the index held before is gone until the operator
            # replays credit.records. New batches keep flowing into the recreated index.
            log.error("%s; retrying the same batch", exc)
        except SinkUnavailable as exc:
            log.warning("%s; retrying the same batch in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)


def install(streams: CreditStreams) -> None:
    app, cfg = streams.app, streams.config
    rejected = app.topic(
        rejected_topic(cfg.topic_prefix), key_serializer="raw", value_serializer="raw"
    )
    sinks: list[Any] = []
    clickhouse: list[Any] = []  # the ClickHouse sink, shared with the operations stage

    @app.task
    async def set_up_sinks() -> None:
        opened = await asyncio.to_thread(open_sinks, cfg)
        clickhouse.extend(s for s in opened if s.name == "ClickHouseSink")
        sinks.extend(opened)

    if cfg.clickhouse_dsn:
        from streams import operations_stage

        operations_stage.install(streams, clickhouse)

    @app.agent(streams.records, name=f"{cfg.topic_prefix}sinks", concurrency=1)
    @fail_loudly(app)
    async def apply_to_sinks(stream: faust.StreamT) -> None:
        async for events in stream.take_events(cfg.sink_batch_size, within=cfg.sink_flush_seconds):
            while len(sinks) < (bool(cfg.clickhouse_dsn) + bool(cfg.redis_url)):
                await asyncio.sleep(0.1)  # set_up_sinks has not finished yet
            messages = [e.message for e in events]
            records = [decode_enriched(m.value) for m in messages]
            by_event = {r["event_id"]: m for r, m in zip(records, messages, strict=True)}
            results = await asyncio.gather(*(write_with_retry(s, records) for s in sinks))
            pending = []
            for sink, result in zip(sinks, results, strict=True):
                observe_batch(sink.name, result, records, cfg.clock())
                for refused in result.rejected:
                    message = by_event[refused.event_id]
                    rejection = Rejection(
                        refused.reason_code,
                        None,
                        refused.reason,
                        "sink",
                        f"sinks.{sink.name}",
                    )
                    pending.append(
                        await send_dead_letter(
                            rejected, message, rejection, event_id=refused.event_id
                        )
                    )
            await asyncio.gather(*pending)
