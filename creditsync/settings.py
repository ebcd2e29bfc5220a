"""Settings: one frozen pydantic-settings class per component, env prefix CREDITSYNC_.

Precedence is argument > environment > default, as pydantic-settings gives it. Defaults run
everything on one machine (DESIGN.md "Services and how they start"). KafkaSettings lives in
schemas/kafka/config.py, beside the one function that turns it into a client config.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode, urlparse

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.kafka.config import KafkaSettings

__all__ = [
    "ClickHouseSettings",
    "DataSettings",
    "HttpSettings",
    "KafkaSettings",
    "OperatorSettings",
    "PrivacySettings",
    "RedisSettings",
    "StreamSettings",
]


def _config() -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix="CREDITSYNC_", frozen=True, extra="ignore")


class DataSettings(BaseSettings):
    """Where local state lives: broker and Redis data, embedded ClickHouse, logs, pids."""

    model_config = _config()
    data_dir: Path = Path(".creditsync")


class RedisSettings(BaseSettings):
    model_config = _config()
    redis_url: str = "redis://127.0.0.1:6379/0"


class ClickHouseSettings(BaseSettings):
    model_config = _config()
    # chdb:///<path> embeds ClickHouse in-process; http://host:8123/db talks to a server.
    clickhouse_dsn: str = ""
    clickhouse_database: str = "creditsync"
    # A cluster of the servers' remote_servers (infra/clickhouse/): migrations then create
    # replicated tables and Distributed tables ON CLUSTER (sinks/clickhouse/cluster.py). It
    # travels in the DSN (`?cluster=`), so every client connected from it knows. Empty: one node.
    clickhouse_cluster: str = ""
    # Limits of one analytics query (`creditsync sql`, /v1/analytics/*): readonly.QueryLimits.
    analytics_max_seconds: float = 30.0
    analytics_max_result_rows: int = 10_000
    analytics_max_memory_bytes: int = 1024 * 1024 * 1024
    analytics_max_rows_to_read: int = 2_000_000_000

    def dsn(self, data: DataSettings | None = None) -> str:
        if self.clickhouse_dsn:
            dsn = self.clickhouse_dsn
        else:
            dsn = f"chdb://{((data or DataSettings()).data_dir / 'clickhouse').resolve()}"
        if not self.clickhouse_cluster or dsn.lower() == "off":
            return dsn
        # chdb with a cluster is refused when connecting (sinks/clickhouse/client.py).
        joiner = "&" if urlparse(dsn).query else "?"
        return f"{dsn}{joiner}{urlencode({'cluster': self.clickhouse_cluster})}"


class HttpSettings(BaseSettings):
    model_config = _config()
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Departments, their hashed tokens and allowed categories (producers/departments.py).
    departments_file: Path | None = None


class PrivacySettings(BaseSettings):
    model_config = _config()
    # Key of the HMAC that replaces resident ID numbers in analytics (DOMAIN.md "Privacy").
    # Unset: a random key made once in the data directory (creditsync/pii_keys.py), which a
    # deployment on shared services refuses.
    pii_hash_key: SecretStr | None = None
    # AES-256-GCM keys sealing ID numbers at rest: "kid1:<base64 32 bytes>,kid2:<…>", the last
    # the newest (it encrypts; all decrypt). Unset: as for the hash key.
    pii_encryption_keys: SecretStr | None = None


class OperatorSettings(BaseSettings):
    """The operator token (creditsync/operator_token.py): its hash where the deployment
    checks it, the token itself where an operator presents it."""

    model_config = _config()
    operator_token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    operator_token: SecretStr | None = None


class StreamSettings(BaseSettings):
    model_config = _config()
    worker_id: str = "creditsync"
    # Prefix for topics and consumer groups, so tests and several deployments can share
    # one broker without seeing each other's data.
    topic_prefix: str = ""
    sink_batch_size: int = 5000
    sink_flush_seconds: float = 1.0
    # ClickHouse inserts: up to this many records, gathered for up to this long while they
    # keep coming (each insert has a fixed cost in its views; streams/runtime/sink_loop.py).
    clickhouse_batch_size: int = Field(default=20_000, ge=1)
    clickhouse_gather_seconds: float = Field(default=5.0, ge=0)
    # `creditsync run`: processes of each kind (the stages, each sink); 0 runs everything
    # on threads of the one process (creditsync/runtime.py).
    stage_processes: int = Field(default=1, ge=0, le=64)
    # Issue #17: records decided before this date are back-loads (存量) — published, not
    # judged for timeliness (CREDITSYNC_BACKFILL_BEFORE=2026-01-01). Unset: only records
    # their sender flags (`ingest --backfill`, the request's `backfill`) are.
    backfill_before: dt.date | None = None
    # Where the stage tables live (issue #18): on disk under the data dir, with the changelog
    # offset they reflect, so a restart after a clean stop reads only the changelogs' tail;
    # "memory" restores them from the whole changelogs at every start.
    state_store: Literal["rocksdb", "memory"] = "rocksdb"
