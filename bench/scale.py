"""`creditsync bench --scale N`: worker RSS, restart and restore times, Redis memory per
enterprise and query latency under load, at N enterprises (issue #18, deliverable 5).

The stage worker (`creditsync worker --stages intake,items`) and the publicity sink
(`--stages publicity`) run as processes of their own, as `creditsync run` runs them, with the
environment's CREDITSYNC_STATE_STORE (memory or rocksdb). The load: bench.scale_load.
Restart-to-processing and full restore are timed from starting the process to the moment a
new penalty sent at that start is visible in the publicity index (read through
PublicityReader): after a clean stop (SIGTERM) and after deleting the worker's data dir.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.env import PARTITIONS, BenchServices, OffsetProbe, publish_all
from bench.registry_rss import status_kb
from bench.scale_load import Sample, clone_in_processes, sample_events
from bench.scale_mix import (
    MIX_SOURCE,
    PROJECTION_ENTERPRISES,
    TARGET_ENTERPRISES,
    mix_totals,
    project,
    sample_size,
    target_checks,
)
from bench.stats import latency_summary
from bench.workload import (
    EventFactory,
    encoded_records,
    enterprise_codes,
    enterprise_name,
    record_row,
)
from creditsync.settings import StreamSettings
from schemas.kafka.config import kafka_at
from schemas.kafka.lag import LagReader
from schemas.topics import RECORDS
from sinks.publicity import PublicityIndex, PublicityReader
from streams.runtime.sink_loop import sink_group

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFIX, APP_ID, REDIS_DB = "scale.", "bench-scale", 7
Say = Callable[[str], None]
MIN_PROJECTION_FACTOR = 10


class WorkerProcess:
    """`creditsync worker --stages …` on the bench's services, stopped by its handle."""

    def __init__(self, services: BenchServices, stages: str, data_dir: Path, redis_url: str):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "CREDITSYNC_KAFKA_BOOTSTRAP": services.bootstrap,
            "CREDITSYNC_TOPIC_PREFIX": PREFIX,
            "CREDITSYNC_TOPIC_PARTITIONS": str(PARTITIONS),
            "CREDITSYNC_WORKER_ID": APP_ID,
            "CREDITSYNC_REDIS_URL": redis_url,
            "CREDITSYNC_CLICKHOUSE_DSN": "off",
            "CREDITSYNC_DATA_DIR": str(data_dir),
        }
        self.log = (data_dir.parent / f"{data_dir.name}.log").open("ab")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "creditsync", "worker", "--stages", stages],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"scale bench: worker exited with {self.process.returncode} (log: {self.log.name})"
            )

    def memory_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return {
            "peak_rss_mb": round(status_kb("VmHWM", status) / 1024, 1),
            "rss_mb": round(status_kb("VmRSS", status) / 1024, 1),
        }

    def cpu_seconds(self) -> float:
        """User and system CPU time the worker has used (its threads: RocksDB's compactions
        and librdkafka's included)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.log.close()
        return self.process.returncode


def settle(workers: list[WorkerProcess], timeout: float = 600) -> float:
    """Seconds until the workers are idle (under 10 % of a core each for 3 s running), so
    that the queries under load meet the steady state, not a restore's tail of RocksDB
    compactions (two cores here: those compete with Redis and the broker)."""
    started = time.monotonic()
    quiet, last = 0, [w.cpu_seconds() for w in workers]
    while quiet < 3:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"scale bench: workers still busy after {timeout:.0f}s")
        time.sleep(1)
        for w in workers:
            w.check()
        now = [w.cpu_seconds() for w in workers]
        busy = max(b - a for a, b in zip(last, now, strict=True))
        quiet, last = (quiet + 1 if busy < 0.1 else 0), now
    return round(time.monotonic() - started, 1)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"scale bench: {what} not within {timeout:.0f}s")
        time.sleep(poll)


class Probe:
    """New penalties about one enterprise, each timed until the index shows it."""

    def __init__(self, services: BenchServices, reader: PublicityReader, n: int) -> None:
        self.services, self.reader = services, reader
        self.uscc = enterprise_codes(n)["uscc"]
        self.factory, self.sequence = EventFactory(), 80_000_000

    def penalties(self) -> int:
        profile = self.reader.profile(self.uscc, page_size=1)
        return 0 if profile is None else int(profile["item_counts"].get("penalty", 0))

    def send_and_time(self, worker: WorkerProcess, timeout: float) -> float:
        """Seconds from the worker's start to the new penalty being visible."""
        before = self.penalties()
        self.sequence += 1
        row = record_row("penalty", self.sequence, self.uscc, 0)
        event = self.factory.event("penalty", row, self.sequence)
        publish_all(self.services.bootstrap, encoded_records([event], PREFIX))

        def visible() -> bool:
            worker.check()
            return self.penalties() > before

        wait_for(visible, timeout, "the probe penalty's visibility")
        return round(time.perf_counter() - worker.started, 2)


def queries_under_load(
    services: BenchServices, reader: PublicityReader, enterprises: int, seconds: float
) -> dict[str, Any]:
    """Look-ups and searches while bench.load_probe offers 1,000 penalties/s to the
    pipeline; queries stop when the probe's sending ends."""
    command = [
        sys.executable, "-m", "bench.load_probe", "--bootstrap", services.bootstrap,
        "--prefix", PREFIX, "--redis-url", services.redis_url(REDIS_DB), "--rate", "1000",
        "--seconds", str(seconds), "--start", "90000000",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    probe = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT)
    rng = random.Random(20261218)
    lookups: list[float] = []
    searches: list[float] = []
    missing = 0
    try:
        time.sleep(2)  # the probe's own start-up: query while the load flows
        ends = time.monotonic() + seconds - 2
        i = 0
        while time.monotonic() < ends and probe.poll() is None:
            n = rng.randrange(enterprises)
            codes = enterprise_codes(n)
            code = (codes["uscc"], codes["uscc"], codes["registration_number"],
                    codes["organisation_code"])[i % 4]  # fmt: skip
            started = time.perf_counter()
            found = reader.profile(code, page_size=20)
            lookups.append(time.perf_counter() - started)
            missing += found is None
            name = enterprise_name(n)
            q = (name, name[:4], name[2:5], codes["uscc"][:10])[i % 4]
            started = time.perf_counter()
            reader.search(q)
            searches.append(time.perf_counter() - started)
            i += 1
            time.sleep(0.002)  # ~200 pairs/s: users, not a flood
        out, _ = probe.communicate(timeout=seconds + 120)
    finally:
        if probe.poll() is None:
            probe.terminate()  # our own child, by its handle
            probe.wait(30)
    if probe.returncode != 0:
        raise RuntimeError(f"scale bench: load probe exited with {probe.returncode}")
    if missing:
        raise RuntimeError(f"scale bench: {missing} looked-up enterprises not in the index")
    load = json.loads(out)
    return {"lookup": latency_summary(lookups), "search": latency_summary(searches), "load": load}


def redis_server_time(client: redis.Redis) -> dict[str, Any]:
    """Where the server's time went while the queries ran: its time per call of each command
    that took a millisecond or more of it in all, and the SLOWLOG (calls over 10 ms)."""
    stats = client.info("commandstats")
    commands = {
        name.removeprefix("cmdstat_"): {"calls": s["calls"], "usec_per_call": s["usec_per_call"]}
        for name, s in stats.items()
        if s["usec"] >= 1000
    }
    slow = client.slowlog_get(128)
    return {
        "commands": dict(sorted(commands.items(), key=lambda kv: -kv[1]["calls"])),
        "slowlog_over_10ms": len(slow),
        "slowlog_max_ms": round(max((e["duration"] for e in slow), default=0) / 1000, 1),
        # The client does not decode replies: each entry's command line is bytes.
        "slowlog_commands": sorted({e["command"].split(b" ", 1)[0].decode() for e in slow}),
    }


def scale_run(
    services: BenchServices, enterprises: int, say: Say, load_seconds: float = 30
) -> dict[str, Any]:
    """The whole scale measurement; figures (scale_* keys) and details."""
    work = services.work_dir / "scale"
    services.create_topics(PREFIX)
    url = services.redis_url(REDIS_DB)
    client = redis.Redis.from_url(url)
    # No append-only file for this section: at 5,000,000 enterprises its rewrite would fork a
    # ~19 GB redis-server on a 24 GB machine; used_memory (what is measured) is the same.
    client.config_set("appendonly", "no")
    index = PublicityIndex(client)
    index.setup()
    reader = PublicityReader(client)
    memory_before = int(client.info("memory")["used_memory"])
    size = sample_size(enterprises)
    group = f"{PREFIX}{APP_ID}"
    timeout = 300 + enterprises / 2000
    details: dict[str, Any] = {"sample_enterprises": size, "mix_source": MIX_SOURCE}
    details["sample_mix"] = mix_totals(size)

    say(f"sample of {size:,} enterprises through the real pipeline")
    produced = publish_all(services.bootstrap, encoded_records(list(sample_events(size)), PREFIX))
    sink = WorkerProcess(services, "publicity", work / "sink", url)
    workers: list[dict[str, Any]] = []
    stage_dir = work / "stages"
    worker = WorkerProcess(services, "intake,items", stage_dir, "off")
    lag = LagReader(kafka_at(services.bootstrap), timeout=10)
    offsets = OffsetProbe(services.bootstrap)
    try:
        wait_for(
            lambda: (worker.check(), offsets.messages(PREFIX + RECORDS) >= produced)[1],
            timeout,
            "the sample's records",
            poll=0.5,
        )
        wait_for(lambda: sum(x.lag for x in lag.lags([group])) == 0, 120, "stage lag 0", 0.5)
        sample_memory = worker.memory_mb()
        worker.stop()
        say("reading the sample's changelogs and records")
        sample = Sample(size, PARTITIONS)
        changelogs = sorted(
            t for t in lag.topic_names() if t.startswith(f"{group}-") and t.endswith("-changelog")
        )
        details["sample_changelog_records"] = sample.read_changelogs(services.bootstrap, changelogs)
        details["sample_credit_records"] = sample.read_records(services.bootstrap, PREFIX + RECORDS)
        say(f"cloning to {enterprises:,} enterprises")
        started = time.perf_counter()
        details["clone_changelogs"], details["clone_index"] = clone_in_processes(
            services.bootstrap, url, sample, enterprises, say
        )
        details["load_seconds"] = round(time.perf_counter() - started, 1)
        publicity_group = sink_group(group, "publicity")
        wait_for(lambda: lag.lag(publicity_group, [PREFIX + RECORDS]) == 0, 300, "sink lag 0", 0.5)
        memory_after = int(client.info("memory")["used_memory"])

        probe = Probe(services, reader, enterprises - 1)
        say("first start after the load (restores what was cloned)")
        worker = WorkerProcess(services, "intake,items", stage_dir, "off")
        first = probe.send_and_time(worker, timeout)
        workers.append({"run": "first start after load", **worker.memory_mb()})
        worker.stop()
        say("restart after a clean stop")
        worker = WorkerProcess(services, "intake,items", stage_dir, "off")
        restart = probe.send_and_time(worker, timeout)
        say("waiting for the workers to go idle (compactions after the restore)")
        details["settled_before_load_s"] = settle([worker, sink])
        say(f"look-ups and searches while ingesting 1,000 events/s for {load_seconds:.0f}s")
        client.config_resetstat()
        client.config_set("slowlog-log-slower-than", 10_000)
        client.slowlog_reset()
        details["under_load"] = queries_under_load(services, reader, enterprises, load_seconds)
        details["redis_under_load"] = redis_server_time(client)
        workers.append({"run": "restart, then 1,000 events/s", **worker.memory_mb()})
        worker.stop()
        say("full restore: the worker's data dir deleted")
        shutil.rmtree(stage_dir)
        worker = WorkerProcess(services, "intake,items", stage_dir, "off")
        restore = probe.send_and_time(worker, timeout)
        workers.append({"run": "full restore", **worker.memory_mb()})
    finally:
        worker.stop()
        sink.stop()
        offsets.close()
        client.close()
    details["workers"] = workers
    details["sample_worker"] = sample_memory
    under = details["under_load"]
    figures: dict[str, Any] = {
        "scale_enterprises": enterprises,
        # What the workers read: CREDITSYNC_STATE_STORE, else the setting's default (rocksdb).
        "scale_state_store": StreamSettings().state_store,
        "scale_sample_enterprises": size,
        "scale_worker_rss_mb": max(w["peak_rss_mb"] for w in workers),
        "scale_first_start_after_load_s": first,
        "scale_restart_to_processing_s": restart,
        "scale_full_restore_s": restore,
        "scale_redis_bytes_per_enterprise": round((memory_after - memory_before) / enterprises),
        "scale_lookup_p50_ms": under["lookup"]["p50_ms"],
        "scale_lookup_p99_ms": under["lookup"]["p99_ms"],
        "scale_search_p50_ms": under["search"]["p50_ms"],
        "scale_search_p99_ms": under["search"]["p99_ms"],
        "scale_offered_events_per_s": under["load"]["offered_per_s"],
        "scale_visible_p99_ms": under["load"]["p99_ms"],
        "scale_load_seconds": details["load_seconds"],
    }
    figures["scale_targets"] = target_checks(figures, enterprises)
    for target in (TARGET_ENTERPRISES, PROJECTION_ENTERPRISES):
        # Below 10 × the sample the fixed start-up part dominates: no honest line to draw.
        if target > enterprises >= MIN_PROJECTION_FACTOR * size:
            projected = project(figures, enterprises, target, sample_memory["peak_rss_mb"])
            projected["targets"] = target_checks(projected, target)
            figures[f"scale_projection_{target // 1_000_000}m"] = projected
    return {"figures": figures, "details": details}
