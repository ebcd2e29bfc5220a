"""Runs every section of `creditsync bench` on its own services and gathers the figures.

Sections run in order on one broker and one redis-server started for the run. A section
that fails is reported — its error in the JSON and on screen, and a non-zero exit — and
the others still run, so a long run is not lost to one failure.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench import baselines, latency, pipeline, queries, registry_rss, replay
from bench.env import BenchServices, bench_services, publish_all
from bench.machine import machine_info
from bench.stats import results_document
from bench.workload import encoded_records, workload
from creditsync.settings import StreamSettings
from schemas.codec import codec_for
from sinks.redis_client import open_redis


@dataclass(frozen=True)
class BenchPlan:
    """How much of everything to run; `quick()` is about a minute of measuring."""

    quick: bool = False
    baseline_events: int = 200_000
    pipeline_events: int = 100_000
    latency_per_s: int = 1000
    latency_seconds: float = 30.0
    lookup_enterprises: int = 1_000_000
    queries: int = 2000
    dashboard_rows: int = 10_000_000
    registry_codes: int = 1_000_000
    # `--scale N` (issue #18): the scale section's enterprises; 0: the section is not run.
    scale_enterprises: int = 0
    scale_load_seconds: float = 30.0

    @classmethod
    def full(cls) -> BenchPlan:
        return cls()

    @classmethod
    def quick_plan(cls) -> BenchPlan:
        return cls(
            quick=True,
            baseline_events=30_000,
            pipeline_events=10_000,
            latency_seconds=5.0,
            lookup_enterprises=100_000,
            queries=500,
            dashboard_rows=1_000_000,
            registry_codes=10_000,
        )


Section = Callable[[BenchServices, dict[str, Any], Callable[[str], None]], dict[str, Any]]


def run_bench(plan: BenchPlan, console: Console, sections: list[str] | None = None) -> dict:
    """Run the plan's sections (all by default); the results document (bench.stats)."""
    chosen = [
        (name, fn)
        for name, fn in SECTIONS
        if (name in sections if sections is not None else name not in OPT_IN)
    ]
    # The load average says whether other work shared the machine (2 cores here): figures
    # from a busy machine are not comparable with those from a quiet one.
    figures: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    details: dict[str, Any] = {}
    began = time.perf_counter()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} sections"),
        TimeElapsedColumn(),
    )
    with bench_services() as services, Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=len(chosen))
        for name, fn in chosen:

            def say(text: str, name: str = name) -> None:
                progress.update(task, description=f"{name}: {text}")

            say("running")
            started = time.perf_counter()
            try:
                details[name] = fn(services, {"plan": plan, "figures": figures}, say)
                details[name]["seconds"] = round(time.perf_counter() - started, 1)
                progress.console.print(
                    f"[green]✓[/green] {name} ({time.perf_counter() - started:.0f}s)"
                )
            except Exception as exc:  # reported, recorded, and turned into the exit status
                details[name] = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=6),
                }
                progress.console.print(f"[red]✗ {name}: {type(exc).__name__}: {exc}[/red]")
            progress.advance(task)
    figures["total_seconds"] = round(time.perf_counter() - began, 1)
    figures["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results_document(figures, details, machine_info(), asdict(plan))


def _baselines(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    plan: BenchPlan = ctx["plan"]
    figures = ctx["figures"]
    say(f"encoding {plan.baseline_events:,} intake events")
    events = workload(plan.baseline_events)
    values = codec_for("IntakeEvent").encode_many(events)
    topic = "bench.baseline"
    say("producing")
    produced = baselines.produce_baseline(services.bootstrap, topic, values)
    say("(a) confluent-kafka consume + decode")
    confluent = baselines.confluent_consume(services.bootstrap, topic, len(values))
    say("(b) aiokafka getmany + decode")
    aio = baselines.aiokafka_consume(services.bootstrap, topic, len(values))
    if aio is None:
        say("    skipped: aiokafka is not installed (pip install -e '.[bench]')")
    say(f"(c) echo at {plan.latency_per_s:,}/s")
    echo = baselines.echo_latency(
        services.bootstrap,
        "bench.echo",
        values[0],
        plan.latency_per_s,
        min(plan.latency_seconds, 10),
    )
    figures.update(
        baseline_events_per_s=confluent["events_per_s"],
        baseline_aiokafka_events_per_s=aio["events_per_s"] if aio else None,
        baseline_produce_events_per_s=produced["produce_events_per_s"],
        echo_p99_ms=echo["p99_ms"],
    )
    return {
        "produce": produced,
        "confluent": confluent,
        "aiokafka": aio,
        "echo": echo,
        "message_bytes": round(sum(map(len, values)) / len(values)),
    }


def _pipeline(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    plan: BenchPlan = ctx["plan"]
    figures = ctx["figures"]
    n = plan.pipeline_events
    say(f"pre-loading {n:,} intake events four times (pipeline, stages, split, processes)")
    records_of = encoded_records(workload(n), "")
    for prefix in ("pipe.", "stage.", "split.", "proc."):
        services.create_topics(prefix)
        publish_all(services.bootstrap, (_prefixed(r, prefix) for r in records_of))
    say("all stages, both sinks")
    whole = pipeline.pipeline_throughput(services, "pipe.", n, services.work_dir / "worker")
    figures["pipeline_events_per_s"] = whole.events_per_s
    figures["pipeline_events"] = n
    say("stages in a second process, sinks in this one")
    split = pipeline.pipeline_throughput_split(services, "split.", n, services.work_dir / "worker")
    figures["pipeline_split_events_per_s"] = split.events_per_s
    say("as `run` runs it: stages, publicity sink in processes of their own, ClickHouse here")
    procs = pipeline.pipeline_throughput_processes(
        services, "proc.", n, services.work_dir / "worker"
    )
    figures["pipeline_processes_events_per_s"] = procs.events_per_s
    for key, run in (("", whole), ("split_", split), ("processes_", procs)):
        figures[f"pipeline_{key}cpu_us_per_event"] = run.cpu_us_per_event
    say("each stage alone")
    stages = pipeline.stage_throughputs(services, "stage.", n, services.work_dir / "worker")
    keys = (
        "intake_events_per_s",
        "items_events_per_s",
        "clickhouse_sink_events_per_s",
        "publicity_sink_events_per_s",
    )
    for key, run in zip(keys, stages, strict=True):
        figures[key] = run.events_per_s
    figures["publicity_redis_cpu_us_per_record"] = stages[-1].redis_cpu_us_per_record
    return {
        "pipeline": asdict(whole),
        "pipeline_split": asdict(split),
        "pipeline_processes": asdict(procs),
        "stages": pipeline.as_dicts(stages),
    }


def _latency(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    plan: BenchPlan = ctx["plan"]
    say(f"{plan.latency_per_s:,} events/s for {plan.latency_seconds:.0f}s")
    result = latency.pipeline_latency(
        services, "lat.", plan.latency_per_s, plan.latency_seconds, services.work_dir / "worker"
    )
    ctx["figures"].update(
        pipeline_p50_ms=result["p50_ms"],
        pipeline_p95_ms=result["p95_ms"],
        pipeline_p99_ms=result["p99_ms"],
    )
    say("the same, stream stages in a second process")
    split = latency.pipeline_latency(
        services,
        "lats.",
        plan.latency_per_s,
        plan.latency_seconds,
        services.work_dir / "worker",
        split=True,
    )
    ctx["figures"].update(
        pipeline_split_p50_ms=split["p50_ms"], pipeline_split_p99_ms=split["p99_ms"]
    )
    say("the same as `run` runs it: stages, publicity sink in processes of their own")
    procs = latency.pipeline_latency(
        services,
        "latp.",
        plan.latency_per_s,
        plan.latency_seconds,
        services.work_dir / "worker",
        processes=True,
    )
    ctx["figures"].update(
        pipeline_processes_p50_ms=procs["p50_ms"], pipeline_processes_p99_ms=procs["p99_ms"]
    )
    return {**result, "split": split, "processes": procs}


def _replay(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    expected = ctx["figures"].get("pipeline_events")
    if not expected:
        raise RuntimeError("replay needs the pipeline section's credit.records (run it first)")
    say(f"{expected:,} records into a fresh database and Redis db")
    result = replay.replay_throughput(services, "pipe.", expected)
    ctx["figures"]["replay_events_per_s"] = result["events_per_s"]
    # Each target alone, into a database and a Redis db of its own (fresh, as above: the
    # pipeline section uses dbs 0, 3 and 5, the replay into both 1, the queries 2).
    say("the same into ClickHouse alone, then into the publicity index alone")
    alone = {
        "clickhouse": replay.replay_throughput(
            services, "pipe.", expected, "bench_replay_ch", 1, ("clickhouse",)
        ),
        "publicity": replay.replay_throughput(
            services,
            "pipe.",
            expected,
            "bench_replay_unused",
            REPLAY_ALONE_REDIS_DB,
            ("publicity",),
        ),
    }
    for target, figures in alone.items():
        ctx["figures"][f"replay_{target}_events_per_s"] = figures["events_per_s"]
    return {**result, "alone": alone}


def _queries(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    plan: BenchPlan = ctx["plan"]
    figures = ctx["figures"]
    client = open_redis(services.redis_url(2))
    done = {"n": 0}

    def tick(count: int) -> None:
        done["n"] += count
        say(f"indexing {done['n']:,}/{plan.lookup_enterprises:,} enterprises")

    try:
        write_rate = queries.fill_index(client, plan.lookup_enterprises, tick)
        say(f"{plan.queries:,} look-ups and {4 * plan.queries:,} searches")
        result = queries.query_latency(client, plan.lookup_enterprises, plan.queries)
    finally:
        client.close()
    result["index_write_records_per_s"] = write_rate
    figures.update(
        lookup_enterprises=plan.lookup_enterprises,
        lookup_p50_ms=result["lookup"]["p50_ms"],
        lookup_p99_ms=result["lookup"]["p99_ms"],
        search_p50_ms=result["search"]["p50_ms"],
        search_p99_ms=result["search"]["p99_ms"],
    )
    return result


def _dashboards(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    plan: BenchPlan = ctx["plan"]
    say(f"{plan.dashboard_rows:,} rows, then each view")
    result = queries.dashboard_latency(services.chdb_dsn, plan.dashboard_rows)
    ctx["figures"]["dashboard_rows"] = result["rows"]
    ctx["figures"]["dashboard_max_p50_ms"] = max(v["p50_ms"] for v in result["views"].values())
    return result


def _memory(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    plan: BenchPlan = ctx["plan"]
    # Where the worker keeps its tables: CREDITSYNC_STATE_STORE, as for `creditsync worker`.
    store = StreamSettings().state_store
    say(f"worker loading {plan.registry_codes:,} registrations (tables: {store}), restarted")
    result = registry_rss.registry_rss(
        services,
        "mem.",
        plan.registry_codes,
        services.work_dir / "worker" / "registry",
        timeout=120 + plan.registry_codes / 100,
        state_store=store,
    )
    ctx["figures"].update(
        worker_peak_rss_mb=result["peak_rss_mb"],
        registry_codes=plan.registry_codes,
        state_store=store,
        restart_seconds=result["restart_seconds"],
        restart_restored_records=result["restart_restored_records"],
    )
    return result


def _scale(services: BenchServices, ctx: dict[str, Any], say: Callable[[str], None]) -> dict:
    from bench.scale import scale_run

    plan: BenchPlan = ctx["plan"]
    if plan.scale_enterprises <= 0:
        raise ValueError("the scale section needs --scale N (N enterprises, N > 0)")
    result = scale_run(services, plan.scale_enterprises, say, plan.scale_load_seconds)
    ctx["figures"].update(result["figures"])
    return result["details"]


def _prefixed(record: Any, prefix: str) -> Any:
    from producers.publisher import OutgoingRecord

    return OutgoingRecord(prefix + record.topic, record.key, record.value, record.headers)


REPLAY_ALONE_REDIS_DB = 6

SECTIONS: list[tuple[str, Section]] = [
    ("baselines", _baselines),
    ("pipeline", _pipeline),
    ("latency", _latency),
    ("replay", _replay),
    ("queries", _queries),
    ("dashboards", _dashboards),
    ("memory", _memory),
    ("scale", _scale),
]
# Sections run only when named (`--scale N` names `scale`).
OPT_IN = frozenset({"scale"})
SECTION_NAMES = tuple(name for name, _ in SECTIONS)
