"""Worker memory with N codes in the registry: peak RSS of an intake-stage worker process.

    python -m bench.registry_rss --bootstrap H:P --prefix P --codes N --work-dir DIR

Run by `creditsync bench` after it published N registrations under the prefix: the worker
(intake stage only, no sinks) runs until its registry table holds N enterprises and its
alias table both legacy codes of each, then prints its VmHWM (peak resident set) as JSON.
A process of its own, so the figure is the worker's alone.
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
    bootstrap: str, prefix: str, codes: int, work_dir: Path, timeout: float
) -> dict[str, Any]:
    config = WorkerConfig(
        kafka=kafka_at(bootstrap),
        data_dir=work_dir,
        topic_prefix=prefix,
        app_id="bench-registry",
        stages=("intake",),
    )
    streams = build_app(config)
    intake = streams.stage_loop.stages[0]
    started = time.perf_counter()

    def entries(table: str) -> int:
        # Read from the loop's thread's dicts: a length is safe to read across threads.
        return sum(len(tables[table]) for tables in list(intake.tables.partitions.values()))

    def loaded() -> bool:
        return (
            entries("registry") >= codes
            and entries("aliases") >= codes * LEGACY_CODES_PER_ENTERPRISE
        )

    if not run_worker(streams, until=loaded, timeout=timeout, poll_seconds=0.5):
        raise SystemExit(
            f"registry_rss: {entries('registry')} of {codes} registrations loaded "
            f"within {timeout:.0f}s"
        )
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    return {
        "codes": codes,
        "registry_entries": entries("registry"),
        "alias_entries": entries("aliases"),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(status_kb("VmHWM", status) / 1024, 1),
        "rss_mb": round(status_kb("VmRSS", status) / 1024, 1),
    }


def registry_rss(
    services: BenchServices, prefix: str, codes: int, work_dir: Path, timeout: float
) -> dict[str, Any]:
    """Publish `codes` registrations, then measure the worker process that loads them."""
    services.create_topics(prefix)
    publish_all(
        services.bootstrap, encoded_records(list(EventFactory().registrations(codes)), prefix)
    )
    work_dir.mkdir(parents=True, exist_ok=True)
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
    args = parser.parse_args()
    print(
        json.dumps(
            run_intake_worker(args.bootstrap, args.prefix, args.codes, args.work_dir, args.timeout)
        )
    )


if __name__ == "__main__":
    main()
