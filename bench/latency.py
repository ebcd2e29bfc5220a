"""End-to-end latency at a fixed offered load: sent by a department → visible in the index.

The worker (all stages, both sinks) runs in this process; the load and the visibility
poller run in `bench.load_probe`, a separate process started once the worker has handled
a warm-up batch, so neither start-up nor the probe's own work is in the figures. Two more
layouts: `split`, the stream stages in a second process; `processes`, as `creditsync run`
has it, the stages and the publicity sink each in a process of their own and the ClickHouse
sink here (bench.pipeline.process_children).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.env import BenchServices, publish_all
from bench.pipeline import (
    PROCESSES_LATENCY_REDIS_DB,
    child_sink_handled,
    process_children,
    sink_handled,
    stage_process,
    worker_config,
    worker_processes,
)
from bench.workload import EventFactory, encoded_records
from streams.app import build_app
from streams.worker import run_worker

REPO_ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200
# Per layout: the worker's app id, the stages in this process, its ClickHouse database.
LAYOUTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "one": ("bench-latency", ("intake", "items", "sinks"), "bench_latency"),
    "split": ("bench-latency-split", ("sinks",), "bench_latency_split"),
    "processes": ("bench-latency-proc", ("clickhouse",), "bench_latency_proc"),
}


def pipeline_latency(
    services: BenchServices,
    prefix: str,
    per_second: int,
    seconds: float,
    work_dir: Path,
    *,
    split: bool = False,
    processes: bool = False,
) -> dict[str, Any]:
    """Run the probe against a warmed-up worker; the probe's latency summary. `split`: the
    stream stages run in a second process (bench.pipeline.stage_process), the sinks here;
    `processes`: the stages and the publicity sink in processes of their own, ClickHouse here."""
    services.create_topics(prefix)
    redis_db = PROCESSES_LATENCY_REDIS_DB if processes else 6 if split else 4
    factory = EventFactory()
    # Registrations of the enterprises the probe writes about, which also warm the worker.
    warm = list(factory.registrations(max(WARM_UP, 1000)))
    publish_all(services.bootstrap, encoded_records(warm, prefix))
    layout = "processes" if processes else "split" if split else "one"
    name, stages, database = LAYOUTS[layout]
    config = worker_config(
        services,
        prefix,
        name,
        stages,
        clickhouse_database=database,
        redis_db=None if processes else redis_db,
        work_dir=work_dir,
    )
    spawned = process_children(services, name, redis_db, work_dir) if processes else {}
    ch_base = sink_handled("ClickHouseSink")
    pub_base = 0 if processes else sink_handled("PublicityIndex")

    def publicity_handled() -> int:
        if processes:  # counted by the child, into its metrics directory
            return child_sink_handled(spawned, "PublicityIndex")
        return sink_handled("PublicityIndex") - pub_base

    probe: dict[str, Any] = {}
    command = [
        sys.executable,
        "-m",
        "bench.load_probe",
        "--bootstrap",
        services.bootstrap,
        "--prefix",
        prefix,
        "--redis-url",
        services.redis_url(redis_db),
        "--rate",
        str(per_second),
        "--seconds",
        str(seconds),
        "--hops",
    ]

    def warmed_up() -> bool:
        clickhouse = sink_handled("ClickHouseSink") - ch_base
        return min(clickhouse, publicity_handled()) >= len(warm)

    def finished() -> bool:
        for child in running:
            if child.poll() is not None:
                raise RuntimeError(f"latency: a worker child exited with {child.returncode}")
        if "process" not in probe:
            if warmed_up():
                env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
                probe["process"] = subprocess.Popen(
                    command, stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT
                )
            return False
        return probe["process"].poll() is not None

    if processes:
        children = worker_processes(services, prefix, work_dir, spawned)
    elif split:
        children = stage_process(services, prefix, work_dir)
    else:
        children = contextlib.nullcontext()
    running: list[Any] = []
    try:
        with children as started:
            running.extend(started if processes else [started] if split else [])
            ended = run_worker(build_app(config), until=finished, timeout=120 + 3 * seconds)
    finally:
        process = probe.get("process")
        if process is not None and process.poll() is None:
            process.terminate()  # our own child, by its handle
            process.wait(30)
    if not ended or "process" not in probe:
        raise RuntimeError("latency: the worker did not finish the warm-up and the probe in time")
    out, _ = probe["process"].communicate()
    if probe["process"].returncode != 0:
        raise RuntimeError(f"latency probe failed with exit code {probe['process'].returncode}")
    return {
        "stages": {
            "one": "in the sinks' process",
            "split": "in a second process",
            "processes": "processes of their own (stages; publicity sink); ClickHouse here",
        }[layout],
        "sink_flush_seconds": config.sink_flush_seconds,
        "sink_batch_size": config.sink_batch_size,
        "clickhouse_batch_size": config.clickhouse_batch_size,
        "clickhouse_gather_seconds": config.clickhouse_gather_seconds,
        **json.loads(out),
    }
