"""Composing the HTTP server of `creditsync run` from settings: reader, analytics, intake."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from creditsync.child_metrics import exposition_registry
from creditsync.health import ServiceCheck, check_kafka, check_publicity_index, check_redis
from creditsync.http import HttpDeps, create_http_app
from creditsync.operator_token import expected_token_sha256
from creditsync.ops.replay_http import ReplayJobs, replay_router, serving_replay
from creditsync.ops.sqlclient import analytics_limits
from creditsync.ops.status import collect_status
from creditsync.pipeline_metrics import PIPELINE_STATUS
from creditsync.settings import HttpSettings
from producers.departments import load_departments
from producers.http_intake import HttpIntake
from producers.ledger import PublishedLedger
from producers.ownership_check import OwnershipPrecheck
from producers.publisher import KafkaPublisher
from schemas.topics import OWNERSHIP
from sinks.clickhouse import connect_clickhouse, run_readonly_query
from sinks.publicity import PublicityReader
from sinks.redis_client import open_redis
from streams.app import WorkerConfig
from streams.runtime.ownership_log import OwnershipLog


def check_clickhouse(client) -> ServiceCheck:
    try:
        version = client.command("SELECT version()")
    except Exception as exc:
        return ServiceCheck("clickhouse", False, str(exc)[:200])
    return ServiceCheck("clickhouse", True, f"ClickHouse {version}")


def http_app(config: WorkerConfig, children_metrics: Path | None = None) -> FastAPI:
    """The HTTP server of `run`/`serve`; `children_metrics`: where `run`'s children write
    their metrics, merged into /metrics."""
    if not config.redis_url:
        raise ValueError("the HTTP server needs the publicity index: CREDITSYNC_REDIS_URL")
    client = open_redis(config.redis_url)
    clickhouse = (
        connect_clickhouse(config.clickhouse_dsn, config.clickhouse_database)
        if config.clickhouse_dsn
        else None
    )
    settings = HttpSettings()
    intake = None
    if settings.departments_file is not None:
        # HTTP intake only where departments and their tokens are configured.
        intake = HttpIntake(
            departments=load_departments(settings.departments_file),
            publisher=KafkaPublisher(config.kafka, client_id="creditsync-http-intake"),
            ledger=PublishedLedger(client, config.topic_prefix),
            topic_prefix=config.topic_prefix,
            ownership=OwnershipPrecheck(
                PublicityReader(client), OwnershipLog(config.kafka, config.topic(OWNERSHIP))
            ),
        )

    def health() -> list[ServiceCheck]:
        checks = [check_kafka(config.kafka), check_redis(config.redis_url or "")]
        if checks[-1].ok:
            checks.append(check_publicity_index(config.redis_url or ""))
        if clickhouse is not None:
            checks.append(check_clickhouse(clickhouse))
        return checks

    # /metrics shows what `creditsync status` shows (pipeline_metrics.py).
    PIPELINE_STATUS.read = partial(collect_status, config.kafka, config.topic_prefix, config.app_id)
    token_sha256 = expected_token_sha256(config.data_dir)
    app = create_http_app(
        HttpDeps(
            reader=PublicityReader(client),
            analytics=partial(run_readonly_query, clickhouse, limits=analytics_limits())
            if clickhouse
            else None,
            intake=intake,
            health=health,
            operator_token_sha256=token_sha256,
            metrics_registry=exposition_registry(children_metrics),
        )
    )
    # `creditsync replay` while this process serves (and owns the embedded ClickHouse).
    app.include_router(replay_router(ReplayJobs(serving_replay(
        config.kafka, config.topic_prefix, clickhouse_dsn=config.clickhouse_dsn,
        database=config.clickhouse_database, redis_url=config.redis_url,
    )), token_sha256))  # fmt: skip
    return app
