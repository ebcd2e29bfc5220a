"""The benchmark's own services: a Kafka broker, a redis-server and a chdb path in a temp dir.

Never the running deployment's: ports are free ports, data lives in a fresh temporary
directory, and both servers are stopped by their pids when the benchmark ends, also when
it fails (the context manager's `finally`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from creditsync import services
from creditsync.local import create_topics
from producers.publisher import KafkaPublisher, OutgoingRecord
from schemas.kafka.config import kafka_at
from schemas.kafka.lag import LagReader
from schemas.topics import topic_specs

PARTITIONS = 4
PUBLISH_CHUNK = 20_000


@dataclass(frozen=True)
class BenchServices:
    work_dir: Path
    bootstrap: str
    redis_port: int

    @property
    def chdb_dsn(self) -> str:
        # chdb allows one data path per process: every ClickHouse use in the benchmark
        # process shares this one, each run in its own database.
        return f"chdb://{self.work_dir / 'clickhouse'}"

    def redis_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def create_topics(self, prefix: str) -> None:
        create_topics(kafka_at(self.bootstrap), topic_specs(prefix, partitions=PARTITIONS))


@contextmanager
def bench_services(keep: bool = False) -> Iterator[BenchServices]:
    """Start Kafka and Redis on free ports in a temporary directory; stop them at the end."""
    work = Path(tempfile.mkdtemp(prefix="creditsync-bench-"))
    started: list[services.ManagedProcess] = []
    try:
        port, controller = services.free_port(), services.free_port()
        started.append(services.start_kafka(work / "kafka", port, controller))
        redis_port = services.free_port()
        started.append(services.start_redis(work / "redis", redis_port))
        yield BenchServices(work, f"127.0.0.1:{port}", redis_port)
    finally:
        for managed in reversed(started):
            managed.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def publish_all(bootstrap: str, records: Iterable[OutgoingRecord]) -> int:
    """Publish and wait for every acknowledgement, in chunks so memory stays flat."""
    sent = 0
    chunk: list[OutgoingRecord] = []
    with KafkaPublisher(kafka_at(bootstrap), client_id="creditsync-bench") as publisher:
        for record in records:
            chunk.append(record)
            if len(chunk) >= PUBLISH_CHUNK:
                sent += publisher.publish(chunk, timeout=120)
                chunk = []
        if chunk:
            sent += publisher.publish(chunk, timeout=120)
    return sent


class OffsetProbe:
    """Messages written to topics, from their watermarks (schemas/kafka/lag.py)."""

    def __init__(self, bootstrap: str) -> None:
        self.reader = LagReader(kafka_at(bootstrap), timeout=10)

    def messages(self, topic: str) -> int:
        """Messages ever written to `topic` (sum of high watermarks: topics are not trimmed
        during a benchmark)."""
        return self.reader.topic_watermarks([topic]).get(topic, (0, 0))[1]

    def close(self) -> None:
        """Nothing to close: the reader's admin client needs no shutdown."""
