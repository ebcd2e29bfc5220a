"""Health checks of the backing services, shared by `creditsync status` and /healthz."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from creditsync import services
from creditsync.settings import (
    ClickHouseSettings,
    DataSettings,
    HttpSettings,
    KafkaSettings,
    RedisSettings,
)
from schemas.kafka.config import client_config
from sinks.clickhouse.client import redact_dsn


@dataclass(frozen=True, slots=True)
class ServiceCheck:
    name: str
    ok: bool
    detail: str


def check_kafka(kafka: KafkaSettings) -> ServiceCheck:
    bootstrap = kafka.kafka_bootstrap
    host, _, port = bootstrap.rpartition(":")
    if not services.port_open(host, int(port)):
        return ServiceCheck("kafka", False, f"{bootstrap}: no answer (run `creditsync up`)")
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient(client_config(kafka)).list_topics(timeout=5)
    except Exception as exc:
        return ServiceCheck("kafka", False, f"{bootstrap}: {exc}")
    return ServiceCheck("kafka", True, f"{bootstrap}: {len(meta.topics)} topics")


def check_redis(url: str) -> ServiceCheck:
    import redis

    from sinks.redis_client import is_cluster, open_redis

    parsed = urlparse(url)
    try:
        client = open_redis(url, socket_timeout=2)
        try:
            info = client.info("server")
            keys = client.dbsize()  # a cluster: the sum over its primaries
            nodes = ""
            if is_cluster(client):
                nodes = f"cluster of {len(client.get_primaries())} primaries, "
                info = next(iter(info.values())) if "redis_version" not in info else info
        finally:
            client.close()
    except redis.RedisError as exc:
        return ServiceCheck("redis", False, f"{parsed.hostname}:{parsed.port}: {exc}")
    return ServiceCheck(
        "redis",
        True,
        f"{parsed.hostname}:{parsed.port}: {nodes}v{info['redis_version']}, {keys} keys",
    )


def check_publicity_index(url: str) -> ServiceCheck:
    """Whether the publicity index holds all of history, or was recreated empty (Redis lost
    its data) and waits for the operator's replay (sinks/publicity/index.py)."""
    import redis

    from sinks.errors import REBUILD_PUBLICITY_COMMAND
    from sinks.publicity import Keys
    from sinks.redis_client import open_redis

    try:
        client = open_redis(url, socket_timeout=2)
        try:
            since, marker = client.hmget(Keys().meta, "replay_needed_since", "marker")
        finally:
            client.close()
    except redis.RedisError as exc:
        return ServiceCheck("publicity index", False, f"cannot read the index: {exc}")
    if since is not None:
        return ServiceCheck(
            "publicity index",
            False,
            f"publicity index was recreated empty at {since.decode()}: "
            f"run `{REBUILD_PUBLICITY_COMMAND}`",
        )
    state = "complete" if marker is not None else "empty (no record applied yet)"
    return ServiceCheck("publicity index", True, state)


def check_clickhouse(dsn: str, database: str, data_dir: Path, http_base: str) -> ServiceCheck:
    """The analytics store answers a query, where `creditsync sql` would run it: through the
    running `creditsync run` when it owns the embedded ClickHouse, else directly."""
    from creditsync.ops.sqlclient import run_sql

    if dsn.lower() == "off":
        return ServiceCheck("clickhouse", True, "off in this deployment")
    if dsn.startswith("chdb:"):
        from creditsync.ops.sqlclient import choose_route

        if choose_route(dsn, data_dir, http_base).via != "server":
            # Opening chdb here could collide with a `creditsync worker` that owns it.
            return ServiceCheck("clickhouse", True, f"{dsn}: embedded, not opened by status")
    sql = f"SELECT count() FROM system.tables WHERE database = '{database}'"
    try:
        result, route = run_sql(
            sql, dsn=dsn, database=database, data_dir=data_dir, http_base=http_base
        )
    except Exception as exc:
        return ServiceCheck("clickhouse", False, f"{redact_dsn(dsn)}: {type(exc).__name__}: {exc}")
    return ServiceCheck("clickhouse", True, f"{route.detail}: {result.rows[0][0]} tables")


def check_services() -> list[ServiceCheck]:
    redis_url = RedisSettings().redis_url
    checks = [check_kafka(KafkaSettings()), check_redis(redis_url)]
    if checks[-1].ok:
        checks.append(check_publicity_index(redis_url))
    data, clickhouse, http = DataSettings(), ClickHouseSettings(), HttpSettings()
    checks.append(
        check_clickhouse(
            clickhouse.dsn(data),
            clickhouse.clickhouse_database,
            data.data_dir,
            f"http://{http.http_host}:{http.http_port}",
        )
    )
    return checks
