"""The Faust app: topics, tables and agents of the stream processors, built per configuration.

Three stages, each a thin agent over plain functions:

1. intake (`credit.intake.*`, keyed by the code the department sent) — decode, validate,
   resolve the subject to its USCC, enrich; registrations maintain the code registry and are
   re-keyed by each legacy code onto `credit.registry-aliases`; records whose legacy code is
   not known yet are parked in a table under that code and re-driven when it arrives.
2. items (`credit.resolved`, keyed by USCC) — per-item state: changes applied to their
   originals (also when they come first), objections, credit repair, withdrawals, expiry
   timers, joint-punishment notices; emits `credit.records`.
3. sinks (`credit.records`) — ClickHouse and the Redis publicity index, one batch each.

Faust is treated as at-least-once (faust-streaming #517, #323: exactly_once duplicates and
fencing crashes); every output is idempotent by event id and version instead. Agents run with
concurrency 1 (#606: concurrency > 1 commits past unprocessed messages). No GlobalTable
(#212, #283): tables are co-partitioned with the topics that read them, and every table write
is made with the current event set, so its changelog partition is the event's partition.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from schemas import kafka_connection
from schemas.categories import CATEGORIES
from schemas.topics import RECORDS, REGISTRY_ALIASES, RESOLVED, intake_topic

Clock = Callable[[], dt.datetime]
log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything one worker process needs; built from settings by the CLI, or by tests."""

    bootstrap: str
    data_dir: Path
    topic_prefix: str = ""
    app_id: str = "creditsync"
    partitions: int = 4
    pii_key: bytes = b"creditsync-local-development-key"
    redis_url: str | None = None  # None: no publicity sink in this worker
    clickhouse_dsn: str | None = None  # None: no ClickHouse sink in this worker
    clickhouse_database: str = "creditsync"
    sink_batch_size: int = 5000
    sink_flush_seconds: float = 1.0
    intake_batch_size: int = 1000
    parked_retry_seconds: float = 60.0
    expiry_check_seconds: float = 30.0
    stages: tuple[str, ...] = ("intake", "items", "sinks")
    # The CLI's workers re-execute themselves when a Faust stage stalls (streams/watchdog.py).
    restart_when_stalled: bool = False
    stall_seconds: float = 45.0
    clock: Clock = field(default=utc_now)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@dataclass
class CreditStreams:
    """The built app with its channels, so the CLI and tests can start, feed and stop it."""

    config: WorkerConfig
    app: faust.App
    intake: faust.TopicT
    aliases: faust.TopicT
    resolved: faust.TopicT
    records: faust.TopicT
    tables: dict[str, faust.Table]
    # Producers of the stages' outputs (streams.outputs), closed once the app has stopped.
    outputs: list[Any] = field(default_factory=list)

    def output_producer(self, stage: str) -> Any:
        from streams.outputs import Outputs

        out = Outputs(
            self.config.bootstrap, f"{self.config.topic_prefix}{self.config.app_id}-{stage}"
        )
        self.outputs.append(out)
        return out


def build_app(config: WorkerConfig) -> CreditStreams:
    app = faust.App(
        f"{config.topic_prefix}{config.app_id}",
        broker=f"kafka://{config.bootstrap}",
        broker_credentials=kafka_connection.faust_credentials(),
        store="memory://",
        datadir=str(config.data_dir / "faust"),
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
        # A killed worker's partitions move to the others after this (Faust's default is 60).
        broker_session_timeout=20.0,
        web_enabled=False,
        # Our own topics are created by `creditsync up` from schemas/topics.py; Faust only
        # declares its internal changelog topics.
        topic_allow_declare=True,
        stream_wait_empty=False,
    )

    def raw_topic(*names: str) -> faust.TopicT:
        return app.topic(*names, key_serializer="raw", value_serializer="raw")

    streams = CreditStreams(
        config=config,
        app=app,
        intake=raw_topic(*(config.topic(intake_topic(c)) for c in CATEGORIES)),
        aliases=raw_topic(config.topic(REGISTRY_ALIASES)),
        resolved=raw_topic(config.topic(RESOLVED)),
        records=raw_topic(config.topic(RECORDS)),
        tables={},
    )

    def table(name: str) -> faust.Table:
        # Values are JSON-able dicts (Faust's default json serializer); partitions match
        # the topics that read them.
        t = app.Table(name, default=None, partitions=config.partitions)
        streams.tables[name] = t
        return t

    from streams.faust_support import (
        consumer_state,
        release_stranded_partitions,
        resume_unfed_partitions,
    )

    unfed: list[set] = [set()]

    @app.timer(1.0)
    async def keep_partitions_flowing() -> None:
        released = release_stranded_partitions(app)
        if released:
            log.warning("resumed %d partition(s) left paused by Faust's flow control", released)
        state = consumer_state(app) if unfed[0] else None
        resumed, unfed[0] = resume_unfed_partitions(app, unfed[0])
        if resumed:
            log.warning("resumed %d stream partition(s) nothing held back: %s", resumed, state)

    if config.restart_when_stalled and {"intake", "items"} & set(config.stages):
        _install_watchdog(app, config)

    # Imported here so that `import streams` (pure domain logic) never needs Faust.
    from streams import intake_stage, items_stage, sink_stage

    if "intake" in config.stages:
        intake_stage.install(
            streams, registry=table("registry"), aliases=table("aliases"), parked=table("parked")
        )
    if "items" in config.stages:
        items_stage.install(streams, items=table("items"), notices=table("notices"))
    if "sinks" in config.stages:
        sink_stage.install(streams)
    return streams


def _install_watchdog(app: faust.App, config: WorkerConfig) -> None:
    import asyncio

    from confluent_kafka import KafkaException

    from streams.faust_support import consumer_state, dump_agents, dump_tasks
    from streams.watchdog import GroupProgress, StallDetector, restart_process

    # Only the topics of the Faust stages this worker runs: lag a stage elsewhere leaves
    # (another worker's, or one not running) must not restart this one.
    topics: list[str] = []
    if "intake" in config.stages:
        topics += [config.topic(intake_topic(c)) for c in CATEGORIES]
        topics.append(config.topic(REGISTRY_ALIASES))
    if "items" in config.stages:
        topics.append(config.topic(RESOLVED))
    detector = StallDetector(config.stall_seconds)
    progress: list[GroupProgress] = []

    @app.timer(5.0)
    async def restart_when_stalled() -> None:
        if not progress:
            progress.append(GroupProgress(config.bootstrap, app.conf.id, topics, config.partitions))
        try:
            committed, lag = await asyncio.to_thread(progress[0].read)
        except KafkaException as exc:
            # The broker is restarting or the coordinator moving: no reading this round, and
            # no reading is no evidence of a stall.
            log.warning("stall watchdog: group progress not readable (%s)", exc)
            return
        if detector.observe(committed, lag, recovering=bool(app.in_recovery)):
            log.error("stall watchdog: consumer %s", consumer_state(app))
            dump_agents(app)
            dump_tasks()
            restart_process(
                f"stream stage stalled: lag {lag} and no commit for {config.stall_seconds:.0f}s"
            )
