"""Helpers of the integration tests: run a worker until a condition holds, read stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from creditsync.local import create_topics
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import REJECTED, topic_specs
from streams.app import WorkerConfig, build_app
from streams.worker import run_worker
from tests.conftest import TEST_HASH_KEY


def run_until(config: WorkerConfig, condition, timeout: float = 90.0) -> bool:
    return run_worker(build_app(config), until=condition, timeout=timeout)


def stage_config(
    bootstrap: str,
    data_dir: Path,
    label: str,
    *,
    partitions: int,
    clock: Callable[[], dt.datetime],
    **fields: Any,
) -> WorkerConfig:
    """A worker configuration on topics of its own (prefix `<label><time>.`, created here
    with `partitions` each) and no Redis or ClickHouse; `fields` sets the rest."""
    prefix = f"{label}{dt.datetime.now().strftime('%H%M%S%f')}."
    create_topics(kafka_at(bootstrap), topic_specs(prefix, partitions=partitions))
    return WorkerConfig(
        kafka=kafka_at(bootstrap),
        data_dir=data_dir,
        topic_prefix=prefix,
        partitions=partitions,
        pii_key=TEST_HASH_KEY.encode(),
        clock=clock,
        **fields,
    )


def rejected_messages(bootstrap: str, prefix: str, expected: int) -> list[Any]:
    return topic_messages(bootstrap, f"{prefix}{REJECTED}", expected, group=f"{prefix}check")


def topic_messages(bootstrap: str, topic: str, expected: int, group: str) -> list[Any]:
    """The first `expected` messages of `topic` (fewer if they do not come within 30 s)."""
    consumer = Consumer(
        client_config(kafka_at(bootstrap), group_id=group, auto_offset_reset="earliest")
    )
    consumer.subscribe([topic])
    found = []
    try:
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(msg)
            if len(found) >= expected:
                break
    finally:
        consumer.close()
    return found


def count(client, database: str, sql: str) -> int:
    return int(client.query(sql.replace("{db}", database)).result_rows[0][0])


class WorkerProcess:
    """`creditsync worker` in a subprocess, for kill -9 and several-worker tests."""

    def __init__(self, env: dict[str, str], log_path: Any, args: tuple[str, ...] = ()) -> None:
        import os
        import subprocess
        import sys

        self.log = open(log_path, "ab")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "creditsync", "worker", *args],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit, buffers lost."""
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()

    def stop(self) -> int:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


def worker_env(config: WorkerConfig, data_dir: Any, *, clickhouse: str) -> dict[str, str]:
    return {
        "CREDITSYNC_KAFKA_BOOTSTRAP": config.bootstrap,
        "CREDITSYNC_TOPIC_PREFIX": config.topic_prefix,
        "CREDITSYNC_REDIS_URL": config.redis_url or "off",
        "CREDITSYNC_CLICKHOUSE_DSN": clickhouse,
        "CREDITSYNC_CLICKHOUSE_DATABASE": config.clickhouse_database,
        "CREDITSYNC_DATA_DIR": str(data_dir),
        "CREDITSYNC_SINK_FLUSH_SECONDS": "0.3",
    }


def chdb_query(dsn: str, database: str, sql: str) -> list[tuple]:
    """Query an embedded ClickHouse in a fresh process (chdb: one data path per process)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; from sinks.clickhouse import connect_clickhouse; "
        f"c = connect_clickhouse({dsn!r}, {database!r}); "
        f"print(json.dumps([list(r) for r in c.query({sql!r}).result_rows], default=str))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"query failed: {out.stderr[-2000:]}")
    return [tuple(r) for r in json.loads(out.stdout.strip().splitlines()[-1])]


def sinks_caught_up(
    config: WorkerConfig, sinks: tuple[str, ...] = ("clickhouse", "publicity")
) -> bool:
    """Whether each sink's consumer group (streams/runtime/sink_loop.py) has committed to the end of
    credit.records: every record is then in that store. The sinks read independently, so
    one store being complete says nothing of the other."""
    from schemas.kafka.lag import LagReader
    from schemas.topics import RECORDS
    from streams.runtime.sink_loop import sink_group

    reader = LagReader(config.kafka)
    for sink in sinks:
        group = sink_group(f"{config.topic_prefix}{config.app_id}", sink)
        if reader.lag(group, [config.topic(RECORDS)]):
            return False
    return True
