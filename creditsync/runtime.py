"""`creditsync run` and `creditsync worker`: the processes that do the work.

`run` is the main job: the stream stages, both sinks and the HTTP server in one process, which
also owns the embedded ClickHouse (chdb allows one owner per data directory, so analytics
reads go through this process). Ctrl-C or SIGTERM stops everything it started, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from creditsync.pii_keys import check_configured, load_pii_keys
from creditsync.settings import (
    ClickHouseSettings,
    DataSettings,
    KafkaSettings,
    RedisSettings,
    StreamSettings,
)
from schemas.pii_crypto import install_keyring
from streams.app import WorkerConfig, build_app
from streams.worker import run_worker

log = logging.getLogger("creditsync")
OFF = "off"


def worker_config(
    stages: tuple[str, ...] = ("intake", "items", "sinks"), **overrides: object
) -> WorkerConfig:
    """The worker's configuration from CREDITSYNC_* settings (argument > env > default)."""
    data, kafka, stream = DataSettings(), KafkaSettings(), StreamSettings()
    clickhouse = ClickHouseSettings()
    data.data_dir.mkdir(parents=True, exist_ok=True)
    # The keys are read (or made, on one machine) now, so a worker warns at start.
    check_configured(kafka=kafka, clickhouse=clickhouse)
    keys = load_pii_keys(data.data_dir)
    install_keyring(keys.keyring)
    # "off" leaves a sink out of this worker: e.g. several workers sharing partitions, with
    # ClickHouse written by one process (embedded chdb has one owner per data directory).
    redis_url = RedisSettings().redis_url
    values: dict[str, object] = {
        "bootstrap": kafka.kafka_bootstrap,
        "data_dir": data.data_dir.resolve(),
        "topic_prefix": stream.topic_prefix,
        "app_id": stream.worker_id,
        "partitions": kafka.topic_partitions,
        "pii_key": keys.hash_key,
        "redis_url": None if redis_url.lower() == OFF else redis_url,
        "clickhouse_dsn": None
        if clickhouse.clickhouse_dsn.lower() == OFF
        else clickhouse.dsn(data),
        "clickhouse_database": clickhouse.clickhouse_database,
        "sink_batch_size": stream.sink_batch_size,
        "sink_flush_seconds": stream.sink_flush_seconds,
        "stages": stages,
        "restart_when_stalled": True,
    }
    values.update(overrides)
    return WorkerConfig(**values)  # type: ignore[arg-type]


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # `kill -USR1 <pid>`: what every task awaits, for an operator looking at a stuck worker
    # (thread stacks alone, as py-spy shows them, say only that the loop is idle).
    from streams.faust_support import dump_tasks

    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)


async def run_main(
    config: WorkerConfig,
    *,
    serve_http: bool = True,
    extra_tasks: list[Callable[[asyncio.Event], Awaitable[None]]] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run the workers (and the HTTP server) until Ctrl-C / SIGTERM."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    streams = build_app(config)
    tasks: list[asyncio.Task[None]] = []
    server = None
    if serve_http:
        server = _http_server(config)
        tasks.append(asyncio.create_task(server.serve(), name="http"))
    for make in extra_tasks or []:
        tasks.append(asyncio.create_task(make(stop)))

    if on_ready is not None:
        on_ready()
    try:
        await run_worker(streams, stop=stop)
    finally:
        stop.set()
        if server is not None:
            server.should_exit = True
        # Every task watches `stop`; an error in one is raised here, not swallowed.
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


def _http_server(config: WorkerConfig):
    import uvicorn

    from creditsync.composition import http_app
    from creditsync.settings import HttpSettings

    http = HttpSettings()
    uv_config = uvicorn.Config(
        http_app(config),
        host=http.http_host,
        port=http.http_port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(uv_config)
    # Signals are ours (install_stop_signals): uvicorn must not replace the handlers.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


def demo_feed_task(config: WorkerConfig, rate: float) -> Callable[[asyncio.Event], Awaitable[None]]:
    """The synthetic agency feed, publishing `rate` events per second until stopped."""

    async def feed(stop: asyncio.Event) -> None:
        from producers.demo import DemoFeed
        from producers.publisher import KafkaPublisher, intake_record, rejection_record
        from schemas.codec import encode_intake, fingerprint_of

        demo = DemoFeed()
        publisher = KafkaPublisher(config.bootstrap, client_id="creditsync-demo")
        per_tick = max(1, int(rate))
        try:
            while not stop.is_set():
                records = []
                for event in demo.events(per_tick):
                    if isinstance(event, dict):
                        value = encode_intake(event)
                        records.append(
                            intake_record(event, value, fingerprint_of(value), config.topic_prefix)
                        )
                    else:
                        records.append(
                            rejection_record(
                                event,
                                category="penalty",
                                department_code="scjg-640000",
                                adapter="demo/1",
                                fields=dict(event.row or {}),
                                topic_prefix=config.topic_prefix,
                            )
                        )
                await asyncio.to_thread(publisher.publish, records)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await asyncio.to_thread(publisher.close)

    return feed


def run_main_job(*, demo: bool, demo_rate: float, start_local: bool, console: Any) -> int:
    """`creditsync run`: bring up what is missing, run until Ctrl-C, stop what it started."""
    from creditsync.health import check_kafka, check_redis
    from creditsync.local import LocalStack, create_topics
    from creditsync.settings import HttpSettings
    from schemas.topics import topic_specs

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    stack = LocalStack.from_settings()
    started: list[str] = []
    services_down = (
        not check_kafka(stack.kafka.kafka_bootstrap).ok or not check_redis(stack.redis.redis_url).ok
    )
    if start_local and services_down:
        console.print("starting the local Kafka and Redis (first start formats storage) …")
        started = stack.up()
    config = worker_config()
    create_topics(config.bootstrap, topic_specs(config.topic_prefix, config.partitions))
    http = HttpSettings()

    def ready() -> None:
        base = f"http://{http.http_host}:{http.http_port}"
        console.print("[bold green]creditsync is running[/bold green] (Ctrl-C stops it)")
        console.print(f"  public query page   {base}/")
        console.print(f"  analysts' dashboard {base}/dashboard")
        console.print(f"  API docs            {base}/docs")
        if demo:
            console.print(f"  demo feed           {demo_rate:g} events/s")

    tasks = [demo_feed_task(config, demo_rate)] if demo else []
    from creditsync.ops.runlock import main_job_pid

    try:
        # run.pid tells operator commands that this process owns the embedded ClickHouse.
        with main_job_pid(config.data_dir):
            asyncio.run(run_main(config, extra_tasks=tasks, on_ready=ready))
    finally:
        if started:
            for line in stack.down():
                console.print(line)
    return 0
