"""The stream worker: the stages, the sinks and the operations agent, built per configuration.

Three stages over plain functions:

1. intake (`credit.intake.*`, keyed by the code the department sent) — decode, validate,
   resolve the subject to its USCC, enrich; registrations maintain the code registry and are
   re-keyed by each legacy code onto `credit.registry-aliases`; records whose legacy code is
   not known yet are parked in a table under that code and re-driven when it arrives.
2. items (`credit.resolved`, keyed by USCC) — per-item state: changes applied to their
   originals (also when they come first), objections, credit repair, withdrawals, expiry
   timers, joint-punishment notices; emits `credit.records`.
3. sinks (`credit.records`) — ClickHouse and the Redis publicity index, one batch each.

Stages 1 and 2 are stateful and run in one confluent-kafka consumer loop with changelog-backed
tables (`streams.stage_loop`, `streams.stage_state`), group `<prefix><app id>`; each sink
has a loop and group of its own (`streams.sink_loop`). The Faust app (id `<prefix><app
id>-operations`) hosts them: it starts and stops the loops' threads, runs the operations
agent that copies rejected, parked, control-total and notice history into ClickHouse, and
crashes the worker loudly when a loop fails. Everything is at-least-once; every output is
idempotent by event id and version.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from schemas import kafka_connection

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
    """The built worker, so the CLI and tests can start and stop it."""

    config: WorkerConfig
    app: faust.App
    # The stateful stages' loop (None when this worker runs neither intake nor items).
    stage_loop: Any = None
    # Producers of the loops' outputs, closed once the app has stopped.
    outputs: list[Any] = field(default_factory=list)

    @property
    def stage_group(self) -> str:
        return f"{self.config.topic_prefix}{self.config.app_id}"

    def output_producer(self, name: str) -> Any:
        from streams.outputs import Outputs

        out = Outputs(self.config.bootstrap, f"{self.stage_group}-{name}")
        self.outputs.append(out)
        return out


def build_app(config: WorkerConfig) -> CreditStreams:
    app = faust.App(
        f"{config.topic_prefix}{config.app_id}-operations",
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
        # Our own topics are created by `creditsync up` from schemas/topics.py.
        topic_allow_declare=True,
        stream_wait_empty=False,
    )
    streams = CreditStreams(config=config, app=app)

    from streams.faust_support import (
        consumer_state,
        release_stranded_partitions,
        resume_unfed_partitions,
    )

    unfed: list[set] = [set()]

    @app.timer(1.0)
    async def keep_partitions_flowing() -> None:
        # The operations agent is a Faust stream: work around its flow-control hazards.
        released = release_stranded_partitions(app)
        if released:
            log.warning("resumed %d partition(s) left paused by Faust's flow control", released)
        state = consumer_state(app) if unfed[0] else None
        resumed, unfed[0] = resume_unfed_partitions(app, unfed[0])
        if resumed:
            log.warning("resumed %d stream partition(s) nothing held back: %s", resumed, state)

    # Imported here so that `import streams` (pure domain logic) never needs Faust.
    from streams import sink_stage

    stages = [s for s in ("intake", "items") if s in config.stages]
    if stages:
        _install_stage_loop(streams, stages)
    if "sinks" in config.stages:
        sink_stage.install(streams)
    return streams


def _install_stage_loop(streams: CreditStreams, stages: list[str]) -> None:
    from streams.intake_stage import IntakeStage
    from streams.items_stage import ItemsStage
    from streams.sink_loop import run_in_thread
    from streams.stage_loop import StageLoop

    cfg, app = streams.config, streams.app
    group = streams.stage_group
    out = streams.output_producer("stages")
    kinds = {"intake": IntakeStage, "items": ItemsStage}
    loop = StageLoop(
        stages=[kinds[name](cfg, out, group) for name in stages],
        group=group,
        bootstrap=cfg.bootstrap,
        out=out,
        batch_size=cfg.intake_batch_size,
    )
    streams.stage_loop = loop
    if cfg.restart_when_stalled:
        _install_watchdog(streams)

    @app.task
    async def run_stage_loop() -> None:
        stop = threading.Event()
        await supervise(app, [run_in_thread(loop, stop, "stages")], stop)


async def supervise(app: faust.App, threads: list[threading.Thread], stop: threading.Event) -> None:
    """Crash the worker when a loop's thread ends; stop the loops when the app stops."""
    try:
        while True:
            for thread in threads:
                if not thread.is_alive():
                    failure = thread.failure or RuntimeError(f"{thread.name} ended")  # type: ignore[attr-defined]
                    await app.crash(failure)
                    return
            await asyncio.sleep(0.2)
    finally:
        # Stopping (or crashed): each loop finishes the batch it is on, then closes.
        stop.set()
        for thread in threads:
            await asyncio.to_thread(thread.join, 60.0)


def _install_watchdog(streams: CreditStreams) -> None:
    from confluent_kafka import KafkaException

    from streams.stage_loop import describe
    from streams.watchdog import GroupProgress, StallDetector, restart_process

    app, config, loop = streams.app, streams.config, streams.stage_loop
    topics = [t for stage in loop.stages for t in stage.topics]
    detector = StallDetector(config.stall_seconds)
    progress: list[GroupProgress] = []

    @app.timer(5.0)
    async def restart_when_stalled() -> None:
        if not progress:
            progress.append(
                GroupProgress(config.bootstrap, streams.stage_group, topics, config.partitions)
            )
        try:
            committed, lag = await asyncio.to_thread(progress[0].read)
        except KafkaException as exc:
            # The broker is restarting or the coordinator moving: no reading this round, and
            # no reading is no evidence of a stall.
            log.warning("stall watchdog: group progress not readable (%s)", exc)
            return
        if detector.observe(committed, lag, recovering=loop.restoring):
            log.error("stall watchdog: stage loop %s", describe(loop))
            restart_process(
                f"stream stage stalled: lag {lag} and no commit for {config.stall_seconds:.0f}s"
            )
