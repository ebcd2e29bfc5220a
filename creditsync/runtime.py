"""`creditsync run` and `creditsync worker`: the processes that do the work.

`run` is the main job and uses every core: by default it starts the stream stages and each
sink as `python -m creditsync worker --stages …` child processes (CREDITSYNC_STAGE_PROCESSES
or `--processes` copies of each kind) and supervises them (streams/runtime/children.py): a
child that dies is logged with its name, pid and exit status and restarted with backoff;
Ctrl-C or SIGTERM stops them all by pid (SIGKILL after a grace period) before `run` exits.
The children are the same `worker` command and use the same consumer groups that workers on
separate machines use, so N copies of a kind share its partitions; they inherit the
environment (PII keys, or the data dir whose key files they read as the parent does).

Why this split: embedded ClickHouse (chdb) allows one owner process per data directory, and
the HTTP server (dashboard, /sql) reads analytics from it, so with chdb the ClickHouse sink
and the operations loop stay in the parent beside the HTTP server; with
CREDITSYNC_CLICKHOUSE_DSN naming a server they are a child kind of their own too. Intake
and items are one child kind (one consumer loop, `--stages intake,items`), since intake hands
USCC-keyed records straight to items in the same process; the publicity sink is another.
Children rather than threads because the stages and sinks are Python-bound (Avro, mapping)
and one interpreter runs one of them at a time. `--processes 0` keeps the earlier model:
everything on threads of the one process.

In a process, each loop runs on a thread of its own under one supervisor
(streams/runtime/supervisor.py). A `creditsync worker` stays one process: a loop that fails
ends it with status 1 and one log line naming it, and restarting it is its supervisor's job
(systemd units in infra/systemd/, `restart: unless-stopped` in infra/compose.yaml); under
`run`, that supervisor is the parent.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from creditsync.child_metrics import MULTIPROC_ENV, fresh_metrics_dir
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
from streams.errors import WorkerCrashed
from streams.runtime.children import ChildProcesses, ChildSpec
from streams.worker import run_worker

log = logging.getLogger("creditsync")
OFF = "off"
ALL_STAGES = ("intake", "items", "sinks")
# Stage names `creditsync worker --stages` takes: "sinks" is both sinks (and operations).
KNOWN_STAGES = frozenset({"intake", "items", "sinks", "clickhouse", "publicity"})
# `<data dir>/run-processes.json`: what `creditsync run` has started, for `creditsync status`.
PROCESSES_FILE = "run-processes.json"


def process_plan(
    processes: int, *, clickhouse_dsn: str | None, publicity: bool
) -> tuple[tuple[str, ...], list[ChildSpec]]:
    """The stages `run` keeps in its own process and the children it starts: `processes`
    copies of each kind (0: none, everything in the parent). With embedded ClickHouse
    (chdb, one owner process) its sink stays in the parent, which serves the reads."""
    if processes <= 0:
        return ALL_STAGES, []
    kinds = [("stages", "intake,items")]
    if publicity:
        kinds.append(("publicity", "publicity"))
    parent: tuple[str, ...] = ()
    if clickhouse_dsn is not None:
        if clickhouse_dsn.startswith("chdb:"):
            parent = ("clickhouse",)
        else:
            kinds.append(("clickhouse", "clickhouse"))
    specs = [
        ChildSpec(
            name=f"{kind}-{n}",
            kind=kind,
            argv=(sys.executable, "-m", "creditsync", "worker", "--stages", stages),
        )
        for kind, stages in kinds
        for n in range(1, processes + 1)
    ]
    return parent, specs


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
        "kafka": kafka,
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
        "clickhouse_batch_size": stream.clickhouse_batch_size,
        "clickhouse_gather_seconds": stream.clickhouse_gather_seconds,
        "backfill_before": stream.backfill_before,
        "stages": stages,
        "state_store": stream.state_store,
    }
    values.update(overrides)
    return WorkerConfig(**values)  # type: ignore[arg-type]


def install_stop_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM set `stop` (the loops drain and commit); `kill -USR1 <pid>` dumps
    every thread's stack to stderr, for an operator looking at a stuck worker."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def run_main(
    config: WorkerConfig,
    *,
    serve_http: bool = True,
    extra_loops: list[tuple[str, Any]] | None = None,
    on_ready: Callable[[], None] | None = None,
    children_metrics: Path | None = None,
) -> int:
    """Run the worker's loops (and the HTTP server) until Ctrl-C / SIGTERM: 0, or 1 when a
    loop failed (logged in one line naming the loop and the error). `children_metrics`: the
    directory the children write their metrics to, merged into /metrics."""
    stop = threading.Event()
    install_stop_signals(stop)
    loops = list(extra_loops or [])
    if serve_http:
        loops.insert(0, ("http", HttpServerLoop(_http_server(config, children_metrics))))
    try:
        run_worker(build_app(config), stop=stop, extra_loops=loops, on_started=on_ready)
    except WorkerCrashed as exc:
        log.error("%s", exc)
        return 1
    return 0


class HttpServerLoop:
    """uvicorn on a thread of its own (its own event loop), stopped with the other loops."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def run(self, stop: threading.Event) -> None:
        def exit_when_stopped() -> None:
            stop.wait()
            self.server.should_exit = True

        threading.Thread(target=exit_when_stopped, name="http-stop", daemon=True).start()
        self.server.run()  # returns once should_exit is set; a port in use raises SystemExit


def _http_server(config: WorkerConfig, children_metrics: Path | None = None):
    import uvicorn

    from creditsync.composition import http_app
    from creditsync.settings import HttpSettings

    http = HttpSettings()
    uv_config = uvicorn.Config(
        http_app(config, children_metrics),
        host=http.http_host,
        port=http.http_port,
        log_level="warning",
        lifespan="on",
    )
    # Run off the main thread, uvicorn leaves the signals to us (install_stop_signals).
    return uvicorn.Server(uv_config)


class DemoFeedLoop:
    """The synthetic agency feed, publishing `rate` events per second until stopped."""

    def __init__(self, config: WorkerConfig, rate: float) -> None:
        self.config, self.rate = config, rate

    def run(self, stop: threading.Event) -> None:
        from producers.demo import DemoFeed
        from producers.publisher import KafkaPublisher, intake_record, rejection_record
        from schemas.codec import encode_intake, fingerprint_of

        prefix = self.config.topic_prefix
        demo = DemoFeed()
        publisher = KafkaPublisher(self.config.kafka, client_id="creditsync-demo")
        per_tick = max(1, int(self.rate))
        try:
            while not stop.is_set():
                records = []
                for event in demo.events(per_tick):
                    if isinstance(event, dict):
                        value = encode_intake(event)
                        records.append(intake_record(event, value, fingerprint_of(value), prefix))
                    else:
                        records.append(
                            rejection_record(
                                event,
                                category="penalty",
                                department_code="scjg-640000",
                                adapter="demo/1",
                                fields=dict(event.row or {}),
                                topic_prefix=prefix,
                            )
                        )
                publisher.publish(records + _demo_control_totals(records, prefix))
                stop.wait(1.0)
        finally:
            publisher.close()


def _demo_control_totals(records: list[Any], prefix: str) -> list[Any]:
    """The demo departments declare what they send, one control total per department and
    category per tick, as a department does with a file's trailer row (对账, issue #16)."""
    import json
    from collections import Counter

    from producers.demo import DEMO_DEPARTMENTS
    from producers.events import control_totals_event
    from producers.publisher import OutgoingRecord
    from schemas.topics import CONTROL_TOTALS

    names = {d["code"]: d["name"] for d in DEMO_DEPARTMENTS}
    sent: Counter[tuple[str, str]] = Counter()
    refused: dict[tuple[str, str], Counter[str]] = {}
    for record in records:
        headers = dict(record.headers or [])
        code = headers.get("department") or headers.get("creditsync.department") or b""
        category = headers.get("category") or headers.get("creditsync.category") or b""
        key = (code.decode(), category.decode())
        sent[key] += 1
        if "creditsync.reason_code" in headers:
            refused.setdefault(key, Counter())[headers["creditsync.reason_code"].decode()] += 1
    totals = []
    for (code, category), count in sent.items():
        if not code or not category:
            continue
        rejected = refused.get((code, category), Counter())
        event = control_totals_event(
            {"code": code, "name": names.get(code, code)}, category,  # type: ignore[arg-type]
            "demo tick", count, count - sum(rejected.values()), 0, rejected,
        )  # fmt: skip
        totals.append(OutgoingRecord(
            topic=f"{prefix}{CONTROL_TOTALS}", key=code.encode(),
            value=json.dumps(event, ensure_ascii=False).encode(),
            headers=[("department", code.encode())],
        ))  # fmt: skip
    return totals


def run_main_job(
    *,
    demo: bool,
    demo_rate: float,
    start_local: bool,
    console: Any,
    processes: int | None = None,
) -> int:
    """`creditsync run`: bring up what is missing, run until Ctrl-C, stop what it started."""
    from creditsync.health import check_kafka, check_redis
    from creditsync.local import LocalStack, create_topics
    from creditsync.settings import HttpSettings
    from schemas.topics import topic_specs

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    stack = LocalStack.from_settings()
    started: list[str] = []
    services_down = not check_kafka(stack.kafka).ok or not check_redis(stack.redis.redis_url).ok
    if start_local and services_down:
        console.print("starting the local Kafka and Redis (first start formats storage) …")
        started = stack.up()
    count = StreamSettings().stage_processes if processes is None else processes
    clickhouse = ClickHouseSettings()
    parent_stages, specs = process_plan(
        count,
        clickhouse_dsn=None
        if clickhouse.clickhouse_dsn.lower() == OFF
        else clickhouse.dsn(DataSettings()),
        publicity=RedisSettings().redis_url.lower() != OFF,
    )
    config = worker_config(parent_stages)
    create_topics(config.kafka, topic_specs(config.topic_prefix, config.partitions))
    http = HttpSettings()
    # The children's counters reach the parent's /metrics through their files (child_metrics).
    metrics_dir = fresh_metrics_dir(config.data_dir) if specs else None
    children = ChildProcesses(
        specs,
        env={**os.environ, MULTIPROC_ENV: str(metrics_dir)} if metrics_dir else None,
        status_path=config.data_dir / PROCESSES_FILE,
    )

    def ready() -> None:
        base = f"http://{http.http_host}:{http.http_port}"
        console.print("[bold green]creditsync is running[/bold green] (Ctrl-C stops it)")
        console.print(f"  public query page   {base}/")
        console.print(f"  analysts' dashboard {base}/dashboard")
        console.print(f"  API docs            {base}/docs")
        if demo:
            console.print(f"  demo feed           {demo_rate:g} events/s")
        if specs:
            kinds = sorted({s.kind for s in specs})
            console.print(f"  processes           {count} × {', '.join(kinds)} (+ this one)")

    loops: list[tuple[str, Any]] = [("processes", children)] if specs else []
    if demo:
        loops.append(("demo-feed", DemoFeedLoop(config, demo_rate)))
    from creditsync.ops.runlock import main_job_pid

    try:
        # run.pid tells operator commands that this process owns the embedded ClickHouse.
        with main_job_pid(config.data_dir):
            return run_main(config, extra_loops=loops, on_ready=ready, children_metrics=metrics_dir)
    finally:
        if started:
            for line in stack.down():
                console.print(line)
