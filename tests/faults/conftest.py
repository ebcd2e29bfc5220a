"""Fixtures of the fault suite: a Kafka broker and a redis-server of each test's own.

The session's services are shared by every other test, so a case that kills or restarts a
service starts its own on free ports under tmp_path and stops them by pid in `finally`.
Restarts reuse the same ports and data directory, as an operator's restart would: the broker
keeps its KRaft log (start_kafka skips formatting when meta.properties exists), Redis its
append-only file — unless the case wipes it on purpose.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from creditsync import services
from creditsync.local import create_topics
from schemas.kafka.config import kafka_at
from schemas.topics import topic_specs
from streams.app import WorkerConfig
from tests.conftest import TEST_HASH_KEY
from tests.integration.helpers import WorkerProcess, worker_env

PARTITIONS = 4


@dataclass
class FaultServices:
    """One test's Kafka and Redis, with the stop / start / wipe moves the cases make."""

    root: Path
    kafka_port: int = field(default_factory=services.free_port)
    controller_port: int = field(default_factory=services.free_port)
    redis_port: int = field(default_factory=services.free_port)
    kafka: services.ManagedProcess | None = None
    redis: services.ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def redis_url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    def start_kafka(self) -> float:
        """Start (or restart) the broker on its ports and data; seconds it took to answer."""
        began = time.monotonic()
        self.kafka = services.start_kafka(
            self.root / "kafka", self.kafka_port, self.controller_port
        )
        return time.monotonic() - began

    def stop_kafka(self) -> None:
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None

    def start_redis(self) -> None:
        self.redis = services.start_redis(self.redis_dir, self.redis_port)

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def wipe_redis_data(self) -> list[str]:
        """Delete Redis's persisted data (AOF, RDB) while it is stopped; the names deleted."""
        if self.redis is not None:
            raise RuntimeError("stop Redis before deleting its data")
        gone = []
        for path in self.redis_dir.iterdir():
            if path.name.startswith(("appendonly", "dump")):
                gone.append(path.name)
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        return gone

    def stop_all(self) -> None:
        # Each stop is by pid; a failure of one must not leave the other running.
        try:
            self.stop_redis()
        finally:
            self.stop_kafka()


@pytest.fixture
def fault_services(tmp_path: Path) -> Iterator[FaultServices]:
    own = FaultServices(tmp_path / "services")
    try:
        own.start_redis()
        own.start_kafka()
        yield own
    finally:
        own.stop_all()


def fault_config(
    fault_services: FaultServices,
    tmp_path: Path,
    *,
    letter: str = "f",
    partitions: int = PARTITIONS,
    data_dir: str = "worker",
) -> WorkerConfig:
    """A worker configuration on the test's own services, on fresh topics (created) with
    `partitions` partitions; `letter` starts the topic prefix."""
    prefix = f"{letter}{uuid.uuid4().hex[:8]}."
    create_topics(kafka_at(fault_services.bootstrap), topic_specs(prefix, partitions=partitions))
    return WorkerConfig(
        kafka=kafka_at(fault_services.bootstrap),
        data_dir=tmp_path / data_dir,
        topic_prefix=prefix,
        partitions=partitions,
        redis_url=fault_services.redis_url(0),
        clickhouse_dsn=f"chdb://{tmp_path / 'worker-clickhouse'}",
        clickhouse_database="faults",
        sink_flush_seconds=0.3,
        pii_key=TEST_HASH_KEY.encode(),
    )


@pytest.fixture
def fault_pipeline(fault_services: FaultServices, tmp_path: Path) -> WorkerConfig:
    """The worker configuration on this test's own services, its topics created."""
    return fault_config(fault_services, tmp_path)


class WorkerPool:
    """`creditsync worker` subprocesses of one test; whatever still runs is stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[WorkerProcess] = []
        self.logs: list[Path] = []

    def spawn(self, config: WorkerConfig, stages: str = "", **env: str) -> WorkerProcess:
        """A worker on `config` (ClickHouse on its own chdb path); `env` adds CREDITSYNC_*;
        `stages`: its `--stages` (default: all)."""
        log = self.root / f"worker-{len(self.started) + 1}.log"
        settings = worker_env(config, config.data_dir, clickhouse=config.clickhouse_dsn or "off")
        settings["CREDITSYNC_TOPIC_PARTITIONS"] = str(config.partitions)
        settings.update({f"CREDITSYNC_{k.upper()}": v for k, v in env.items()})
        worker = WorkerProcess(settings, log, ("--stages", stages) if stages else ())
        self.started.append(worker)
        self.logs.append(log)
        return worker

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs)

    def stop_all(self) -> list[int]:
        """Every worker's exit code; one that already exited on its own has its log closed too
        (its handle leaked before: a ResourceWarning in the broker-restart case)."""
        return [w.stop() for w in self.started]


@pytest.fixture
def workers(fault_services: FaultServices, tmp_path: Path) -> Iterator[WorkerPool]:
    # Depends on fault_services so that workers stop before the services they talk to.
    pool = WorkerPool(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
