"""Pipeline throughput: the stream worker run in-process on pre-loaded intake events.

The whole pipeline is timed from its first output to the moment both sinks have handled
every event; each stage is then timed alone on a second copy of the events (its own topic
prefix, consumer group and stores), so one stage's rate is not hidden behind another's:
intake (resolution + enrichment) until credit.resolved holds them all, items until
credit.records does, then the sink stage with only ClickHouse and with only Redis.

A rate is measured from the first progress seen to the last (polled every 0.1 s), so the
worker's start — the consumer groups' join, a few seconds — is reported beside it as
`startup_s` instead of diluting it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import redis
from prometheus_client.multiprocess import MultiProcessCollector

from bench.env import PARTITIONS, BenchServices, OffsetProbe
from bench.stats import rate
from creditsync.child_metrics import MULTIPROC_ENV, fresh_metrics_dir
from schemas.kafka.config import kafka_at
from schemas.topics import RECORDS, RESOLVED
from streams.app import WorkerConfig, build_app
from streams.runtime.metrics import SINK_RECORDS
from streams.worker import run_worker

POLL_SECONDS = 0.1
# The Redis db of the process-mode runs (throughput and latency): dbs 0-6 are taken (the
# pipeline 0, 3, 5; replay 1 and 6; queries 2; latency 4 and 6 — in another section).
PROCESSES_REDIS_DB = 7
PROCESSES_LATENCY_REDIS_DB = 8
Progress = Callable[[], int]


@dataclass(frozen=True)
class StageRun:
    stage: str
    events: int
    seconds: float  # from the first progress seen to the last
    events_per_s: float
    startup_s: float  # from starting the worker to its first progress
    # Redis server CPU (user + sys) over the run per record: the publicity sink's run only.
    redis_cpu_us_per_record: float | None = None
    # CPU (user + sys) of the bench's process and its worker children between the first
    # progress and the last, per event: steadier than a rate on a shared machine (the
    # broker's and Redis's CPU are not in it).
    cpu_us_per_event: float | None = None


def redis_cpu_seconds(client: Any) -> float:
    """The redis-server's CPU time so far, user + system (INFO cpu), in seconds."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def sink_handled(sink: str) -> int:
    """Records the named sink has handled in this process (streams.runtime.metrics counters).

    Collects only this counter family: REGISTRY.get_sample_value collects every metric on
    each call, which cost the worker's event loop ~7 % of its time at a 0.1 s poll."""
    total = 0.0
    for family in SINK_RECORDS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("sink") == sink:
                total += sample.value
    return int(total)


def worker_config(
    services: BenchServices,
    prefix: str,
    app_id: str,
    stages: tuple[str, ...],
    *,
    clickhouse_database: str | None,
    redis_db: int | None,
    work_dir: Path,
) -> WorkerConfig:
    """A worker on the benchmark's services with the settings' defaults (sink batch 5,000
    records, flushed at least every second), as `creditsync run` would have them."""
    (work_dir / app_id).mkdir(parents=True, exist_ok=True)
    return WorkerConfig(
        kafka=kafka_at(services.bootstrap),
        data_dir=work_dir / app_id,
        topic_prefix=prefix,
        app_id=app_id,
        partitions=PARTITIONS,
        redis_url=None if redis_db is None else services.redis_url(redis_db),
        clickhouse_dsn=services.chdb_dsn if clickhouse_database else None,
        clickhouse_database=clickhouse_database or "creditsync",
        stages=stages,
        # The bench's own throwaway services: a fixed key keeps runs comparable.
        pii_key=b"bench-only-pii-hash-key",
    )


def timed_run(
    config: WorkerConfig,
    progress: Progress,
    target: int,
    stage: str,
    *,
    timeout: float,
    cpu: Callable[[], float] = time.process_time,
) -> StageRun:
    """Run the worker until `progress()` reaches `target`; time it (see the module doc).
    `cpu`: the CPU seconds so far of every process doing the work (default: this one)."""
    started = time.perf_counter()
    marks: dict[str, Any] = {"base": None, "first": None, "last": None, "done": 0}
    base = progress()

    def reached() -> bool:
        done = progress() - base
        now = time.perf_counter()
        if done > marks["done"]:
            if marks["first"] is None:
                marks["first"], marks["base"], marks["cpu_first"] = now, done, cpu()
            marks["last"], marks["done"], marks["cpu_last"] = now, done, cpu()
        return done >= target

    if not run_worker(build_app(config), until=reached, timeout=timeout, poll_seconds=POLL_SECONDS):
        raise RuntimeError(
            f"{stage}: {marks['done']} of {target} events done within {timeout:.0f}s"
        )
    first, last = marks["first"], marks["last"]
    measured = target - marks["base"]
    if measured <= 0 or last <= first:
        # Everything landed between two polls: the run is too small to time.
        raise RuntimeError(f"{stage}: {target} events finished within one poll; use more events")
    return StageRun(
        stage,
        target,
        round(last - first, 3),
        rate(measured, last - first),
        round(first - started, 3),
        cpu_us_per_event=round((marks["cpu_last"] - marks["cpu_first"]) * 1e6 / measured, 1),
    )


def pipeline_throughput(
    services: BenchServices, prefix: str, events: int, work_dir: Path
) -> StageRun:
    """All three stages and both sinks, until both sinks have handled every event."""
    config = worker_config(
        services,
        prefix,
        "bench-pipeline",
        ("intake", "items", "sinks"),
        clickhouse_database="bench_pipeline",
        redis_db=0,
        work_dir=work_dir,
    )

    def both_sinks() -> int:
        return min(sink_handled("ClickHouseSink"), sink_handled("PublicityIndex"))

    return timed_run(config, both_sinks, events, "pipeline", timeout=_timeout(events))


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_with(children: list[subprocess.Popen[bytes]]) -> Callable[[], float]:
    """The CPU seconds of this process and of `children` (running), summed."""

    def total() -> float:
        return time.process_time() + sum(process_cpu_seconds(c.pid) for c in children)

    return total


@contextlib.contextmanager
def worker_processes(
    services: BenchServices,
    prefix: str,
    work_dir: Path,
    children: dict[str, tuple[str, dict[str, str]]],
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`creditsync worker --stages …` child processes on the benchmark's services, one per
    entry of `children` (app id → (stages, extra environment)), sinks off unless the
    environment turns one on; each stopped by its handle (SIGTERM, then SIGKILL) on the
    way out, as `creditsync run` stops its children (streams/runtime/children.py)."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []
    try:
        for app_id, (stages, extra) in children.items():
            (work_dir / app_id).mkdir(parents=True, exist_ok=True)
            env = {
                **os.environ,
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                "CREDITSYNC_KAFKA_BOOTSTRAP": services.bootstrap,
                "CREDITSYNC_TOPIC_PREFIX": prefix,
                "CREDITSYNC_TOPIC_PARTITIONS": str(PARTITIONS),
                "CREDITSYNC_WORKER_ID": app_id,
                "CREDITSYNC_REDIS_URL": "off",
                "CREDITSYNC_CLICKHOUSE_DSN": "off",
                "CREDITSYNC_DATA_DIR": str(work_dir / app_id),
                **extra,
            }
            log = (work_dir / app_id / "worker.log").open("ab")
            process = subprocess.Popen(
                [sys.executable, "-m", "creditsync", "worker", "--stages", stages],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            started.append((process, log))
        yield [process for process, _ in started]
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in started:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()


@contextlib.contextmanager
def stage_process(
    services: BenchServices, prefix: str, work_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`creditsync worker --stages intake,items` as a second process on the benchmark's
    services (no sinks), stopped by its handle (SIGTERM, then SIGKILL) on the way out."""
    children = {"bench-split-stages": ("intake,items", {})}
    with worker_processes(services, prefix, work_dir, children) as (stages,):
        yield stages


def process_children(
    services: BenchServices, name: str, redis_db: int, work_dir: Path
) -> dict[str, tuple[str, dict[str, str]]]:
    """The children `creditsync run` starts with embedded ClickHouse (creditsync/runtime.py
    process_plan): the stages in one process, the publicity sink in another; the ClickHouse
    sink stays in the parent (chdb has one owner process), here the bench's own. The
    publicity child counts its records into a metrics directory of its own (child_metrics),
    which `child_sink_handled` reads."""
    return {
        f"{name}-stages": ("intake,items", {}),
        f"{name}-publicity": (
            "publicity",
            {
                "CREDITSYNC_REDIS_URL": services.redis_url(redis_db),
                MULTIPROC_ENV: str(fresh_metrics_dir(work_dir / f"{name}-publicity")),
            },
        ),
    }


def child_sink_handled(children: dict[str, tuple[str, dict[str, str]]], sink: str) -> int:
    """Records the named sink has handled in the children that count into a metrics
    directory (prometheus-client's multiprocess files; the admin client's committed-offsets
    look-up crashed librdkafka 2.16 while the broker's offsets topic was loading)."""
    total = 0.0
    for _, env in children.values():
        if MULTIPROC_ENV not in env:
            continue
        for family in MultiProcessCollector(None, path=env[MULTIPROC_ENV]).collect():  # type: ignore[arg-type]
            for sample in family.samples:
                if (
                    sample.name == "creditsync_sink_records_total"
                    and sample.labels.get("sink") == sink
                ):
                    total += sample.value
    return int(total)


def pipeline_throughput_split(
    services: BenchServices, prefix: str, events: int, work_dir: Path
) -> StageRun:
    """The same pipeline with its stages (intake, items) in a second process,
    `creditsync worker --stages intake,items`, and the sinks in this one: what an operator
    gets by running one more worker process on the same machine."""
    config = worker_config(
        services,
        prefix,
        "bench-split-sinks",
        ("sinks",),
        clickhouse_database="bench_split",
        redis_db=5,
        work_dir=work_dir,
    )
    with stage_process(services, prefix, work_dir) as stages:

        def both_sinks() -> int:
            if stages.poll() is not None:
                raise RuntimeError(f"the stage worker exited with {stages.returncode}")
            return min(sink_handled("ClickHouseSink"), sink_handled("PublicityIndex"))

        return timed_run(
            config,
            both_sinks,
            events,
            "pipeline, stages in a second process",
            timeout=_timeout(events),
            cpu=cpu_with([stages]),
        )


def pipeline_throughput_processes(
    services: BenchServices, prefix: str, events: int, work_dir: Path
) -> StageRun:
    """The pipeline as `creditsync run` runs it: the stages and the publicity sink each in a
    child process, the ClickHouse sink (and operations) in this one; until both sinks have
    handled every event (the publicity child's committed offsets: it commits after writing)."""
    config = worker_config(
        services,
        prefix,
        "bench-proc-clickhouse",
        ("clickhouse",),
        clickhouse_database="bench_processes",
        redis_db=None,
        work_dir=work_dir,
    )
    children = process_children(services, "bench-proc", PROCESSES_REDIS_DB, work_dir)
    # This process's counter also holds the earlier runs' records; the child's are new.
    clickhouse_base = sink_handled("ClickHouseSink")
    with worker_processes(services, prefix, work_dir, children) as running:

        def both_sinks() -> int:
            for child in running:
                if child.poll() is not None:
                    raise RuntimeError(f"a worker child exited with {child.returncode}")
            clickhouse = sink_handled("ClickHouseSink") - clickhouse_base
            return min(clickhouse, child_sink_handled(children, "PublicityIndex"))

        return timed_run(
            config,
            both_sinks,
            events,
            "pipeline, stages and publicity sink in processes of their own",
            timeout=_timeout(events),
            cpu=cpu_with(running),
        )


def stage_throughputs(
    services: BenchServices, prefix: str, events: int, work_dir: Path
) -> list[StageRun]:
    """Each stage alone, in order, on events already pre-loaded under `prefix`."""
    probe = OffsetProbe(services.bootstrap)
    timeout = _timeout(events)
    runs: list[StageRun] = []
    try:

        def common(app_id: str, stages: tuple[str, ...], **kw: Any) -> WorkerConfig:
            kw.setdefault("clickhouse_database", None)
            kw.setdefault("redis_db", None)
            return worker_config(services, prefix, app_id, stages, work_dir=work_dir, **kw)

        resolved, records = f"{prefix}{RESOLVED}", f"{prefix}{RECORDS}"
        runs.append(
            timed_run(
                common("bench-intake", ("intake",)),
                lambda: probe.messages(resolved),
                events,
                "intake (resolution + enrichment)",
                timeout=timeout,
            )
        )
        runs.append(
            timed_run(
                common("bench-items", ("items",)),
                lambda: probe.messages(records),
                events,
                "items",
                timeout=timeout,
            )
        )
        # The sink inserts up to clickhouse_batch_size records at once: a run of fewer
        # than five such batches (--quick) has too few progress points to time, so it gets
        # smaller ones — no smaller than the other sinks' (as before the gathering) — and
        # says so.
        alone = common("bench-sink-clickhouse", ("sinks",), clickhouse_database="bench_stages")
        batch = min(alone.clickhouse_batch_size, max(alone.sink_batch_size, events // 5))
        runs.append(
            timed_run(
                replace(alone, clickhouse_batch_size=batch),
                lambda: sink_handled("ClickHouseSink"),
                events,
                f"ClickHouse sink (batches of up to {batch:,})",
                timeout=timeout,
            )
        )
        # The server's CPU over the whole run (start-up included: an idle server's cron is
        # microseconds) divided by the records: what each record costs Redis itself.
        server = redis.Redis(port=services.redis_port)
        cpu_before = redis_cpu_seconds(server)
        run = timed_run(
            common("bench-sink-publicity", ("sinks",), redis_db=3),
            lambda: sink_handled("PublicityIndex"),
            events,
            "publicity sink",
            timeout=timeout,
        )
        cpu_us = (redis_cpu_seconds(server) - cpu_before) * 1e6 / events
        server.close()
        runs.append(replace(run, redis_cpu_us_per_record=round(cpu_us, 2)))
    finally:
        probe.close()
    return runs


def as_dicts(runs: list[StageRun]) -> list[dict[str, Any]]:
    return [asdict(r) for r in runs]


def _timeout(events: int) -> float:
    # Generous: 60 s of start-up slack plus 200 events/s, far below any healthy rate.
    return 60 + events / 200
