"""Worker memory with N codes in the registry: peak RSS of an intake-stage worker process,
and its restart after a clean stop.

    python -m bench.registry_rss --bootstrap H:P --prefix P --codes N --work-dir DIR \
        [--state-store rocksdb|memory]

Run by `creditsync bench` after it published N registrations under the prefix: the worker
(intake stage only, no sinks) runs until its registry table holds N enterprises and its
alias table both legacy codes of each, then prints its VmHWM (peak resident set) as JSON.
A process of its own, so the figure is the worker's alone. Then one more registration is
published and a second worker process starts on the same data directory (issue #18): the
seconds until it has processed it (restart to processing, its restore included) and the
changelog records its restore read — all of them in memory, only the tail on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.env import BenchServices, publish_all
from bench.workload import EventFactory, encoded_records
from schemas.kafka.config import kafka_at
from streams.app import WorkerConfig, build_app
from streams.worker import run_worker

REPO_ROOT = Path(__file__).resolve().parent.parent
LEGACY_CODES_PER_ENTERPRISE = 2  # registration number and organisation code


def status_kb(field: str, status: str) -> int:
    """A `kB` field (VmHWM, VmRSS) of /proc/<pid>/status text, in kB."""
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise ValueError(f"/proc status has no {field} line")


def run_intake_worker(
    bootstrap: str,
    prefix: str,
    codes: int,
    work_dir: Path,
    timeout: float,
    state_store: str = "rocksdb",
) -> dict[str, Any]:
    config = WorkerConfig(
        kafka=kafka_at(bootstrap),
        data_dir=work_dir,
        topic_prefix=prefix,
        app_id="bench-registry",
        stages=("intake",),
        state_store=state_store,
    )
    streams = build_app(config)
    intake = streams.stage_loop.stages[0]
    started = time.perf_counter()

    def entries(table: str) -> int:
        # Read from the loop's thread's dicts: a length is safe to read across threads.
        return sum(len(tables[table]) for tables in list(intake.tables.partitions.values()))

    seen: dict[str, int] = {}

    def loaded() -> bool:
        # Counted while running: a clean stop closes the stores (the tables leave memory).
        seen.update(registry=entries("registry"), aliases=entries("aliases"))
        return seen["registry"] >= codes and seen["aliases"] >= codes * LEGACY_CODES_PER_ENTERPRISE

    if not run_worker(streams, until=loaded, timeout=timeout, poll_seconds=0.5):
        raise SystemExit(
            f"registry_rss: {seen.get('registry')} of {codes} registrations loaded "
            f"within {timeout:.0f}s"
        )
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    return {
        "codes": codes,
        "state_store": state_store,
        "registry_entries": seen["registry"],
        "alias_entries": seen["aliases"],
        "seconds": round(time.perf_counter() - started, 1),
        "restored_records": intake.tables.restored_records,
        "peak_rss_mb": round(status_kb("VmHWM", status) / 1024, 1),
        "rss_mb": round(status_kb("VmRSS", status) / 1024, 1),
    }


def registry_rss(
    services: BenchServices,
    prefix: str,
    codes: int,
    work_dir: Path,
    timeout: float,
    state_store: str = "rocksdb",
) -> dict[str, Any]:
    """Publish `codes` registrations, then measure the worker process that loads them; then
    publish one more and measure a restarted worker until it has that one."""
    services.create_topics(prefix)
    registrations = list(EventFactory().registrations(codes + 1))
    publish_all(services.bootstrap, encoded_records(registrations[:codes], prefix))
    work_dir.mkdir(parents=True, exist_ok=True)
    loaded = _worker_process(services, prefix, codes, work_dir, timeout, state_store)
    publish_all(services.bootstrap, encoded_records(registrations[codes:], prefix))
    restarted = _worker_process(services, prefix, codes + 1, work_dir, timeout, state_store)
    return {
        **loaded,
        "restart_seconds": restarted["seconds"],
        "restart_restored_records": restarted["restored_records"],
        "restart_peak_rss_mb": restarted["peak_rss_mb"],
    }


def _worker_process(
    services: BenchServices,
    prefix: str,
    codes: int,
    work_dir: Path,
    timeout: float,
    state_store: str,
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.registry_rss",
        "--bootstrap",
        services.bootstrap,
        "--prefix",
        prefix,
        "--codes",
        str(codes),
        "--work-dir",
        str(work_dir),
        "--timeout",
        str(timeout),
        "--state-store",
        state_store,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout + 60,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"registry_rss worker exited with {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--codes", type=int, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--state-store", choices=("rocksdb", "memory"), default="rocksdb")
    args = parser.parse_args()
    figures = run_intake_worker(
        args.bootstrap, args.prefix, args.codes, args.work_dir, args.timeout, args.state_store
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
