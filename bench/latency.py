"""End-to-end latency at a fixed offered load: sent by a department → visible in the index.

The worker (all stages, both sinks) runs in this process; the load and the visibility
poller run in `bench.load_probe`, a separate process started once the worker has handled
a warm-up batch, so neither start-up nor the probe's own work is in the figures.
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
from bench.pipeline import sink_handled, stage_process, worker_config
from bench.workload import EventFactory, encoded_records
from streams.app import build_app
from streams.worker import run_worker

REPO_ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200


def pipeline_latency(
    services: BenchServices,
    prefix: str,
    per_second: int,
    seconds: float,
    work_dir: Path,
    *,
    split: bool = False,
) -> dict[str, Any]:
    """Run the probe against a warmed-up worker; the probe's latency summary. `split`: the
    stream stages run in a second process (bench.pipeline.stage_process), the sinks here."""
    services.create_topics(prefix)
    redis_db = 6 if split else 4
    factory = EventFactory()
    # Registrations of the enterprises the probe writes about, which also warm the worker.
    warm = list(factory.registrations(max(WARM_UP, 1000)))
    publish_all(services.bootstrap, encoded_records(warm, prefix))
    config = worker_config(
        services,
        prefix,
        "bench-latency-split" if split else "bench-latency",
        ("sinks",) if split else ("intake", "items", "sinks"),
        clickhouse_database="bench_latency_split" if split else "bench_latency",
        redis_db=redis_db,
        work_dir=work_dir,
    )
    base = min(sink_handled("ClickHouseSink"), sink_handled("PublicityIndex"))
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
        return min(sink_handled("ClickHouseSink"), sink_handled("PublicityIndex")) - base >= len(
            warm
        )

    def finished() -> bool:
        if "process" not in probe:
            if warmed_up():
                env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
                probe["process"] = subprocess.Popen(
                    command, stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT
                )
            return False
        return probe["process"].poll() is not None

    try:
        with stage_process(services, prefix, work_dir) if split else contextlib.nullcontext():
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
        "stages": "in a second process" if split else "in the sinks' process",
        "sink_flush_seconds": config.sink_flush_seconds,
        "sink_batch_size": config.sink_batch_size,
        **json.loads(out),
    }
