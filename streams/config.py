"""What one worker process is configured with: built from settings by the CLI, or by tests.

Its own module so that the stage adapters, which need it, do not import `streams.app`,
which builds them (that was an import circle).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from schemas.kafka.config import KafkaSettings

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything one worker process needs; built from settings by the CLI, or by tests."""

    kafka: KafkaSettings
    data_dir: Path
    topic_prefix: str = ""
    app_id: str = "creditsync"
    partitions: int = 4
    # No public default (issue #13): the CLI passes the configured key or the data dir's own
    # (creditsync/pii_keys.py). Left empty, a record with an ID number is refused, not hashed.
    pii_key: bytes = b""
    redis_url: str | None = None  # None: no publicity sink in this worker
    clickhouse_dsn: str | None = None  # None: no ClickHouse sink in this worker
    clickhouse_database: str = "creditsync"
    sink_batch_size: int = 5000
    sink_flush_seconds: float = 1.0
    # The ClickHouse sink's batches: up to this many records, gathered while they keep
    # coming for up to this many seconds (streams/runtime/sink_loop.py `gather`).
    clickhouse_batch_size: int = 20_000
    clickhouse_gather_seconds: float = 5.0
    intake_batch_size: int = 1000
    parked_retry_seconds: float = 60.0
    expiry_check_seconds: float = 30.0
    stages: tuple[str, ...] = ("intake", "items", "sinks")
    # Records decided before this day are back-loads (存量): published, not judged for
    # timeliness (CREDITSYNC_BACKFILL_BEFORE, issue #17); None: only flagged ones are.
    backfill_before: dt.date | None = None
    # Where the stage tables live (streams/runtime/state_store.py): "rocksdb" under
    # `data_dir`/state, or "memory". The CLI's default is rocksdb (CREDITSYNC_STATE_STORE).
    state_store: str = "memory"
    clock: Clock = field(default=utc_now)

    @property
    def bootstrap(self) -> str:
        """The brokers' addresses, for messages and tests (clients take `kafka`)."""
        return self.kafka.kafka_bootstrap

    @property
    def state_dir(self) -> Path | None:
        """The stage tables' directory; None when they are kept in memory."""
        return self.data_dir / "state" if self.state_store == "rocksdb" else None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
