"""Faults of Redis: down for 30 seconds during a stream; restarted with its data gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import redis

from sinks.errors import REBUILD_PUBLICITY_COMMAND
from tests.faults.audit import CaseReport, full_audit, record_summary, visible_in_index, wait_for
from tests.faults.load import SteadyProducer, build_workload
from tests.intake_factory import publish
from tests.integration.helpers import sinks_caught_up

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 30.0


def audit_and_report(report, config, fault_services, workload):
    full_audit(
        report,
        bootstrap=config.bootstrap,
        prefix=config.topic_prefix,
        redis_port=fault_services.redis_port,
        clickhouse_dsn=config.clickhouse_dsn,
        database=config.clickhouse_database,
        produced=workload.produced(),
        usccs=workload.usccs,
    )
    record_summary(report)
    assert not report.problems(), report.problems()


def test_redis_down_for_30_seconds_during_a_stream(fault_services, fault_pipeline, workers):
    config = fault_pipeline
    workload = build_workload(3000, enterprises=150)
    total = len(workload.events)
    # About 35 s of production at 30 events/s: it runs before, during and after the outage.
    producer = SteadyProducer(config.bootstrap, config.topic_prefix, workload, rate=30)
    index = redis.Redis(port=fault_services.redis_port)
    worker = workers.spawn(config)

    def worker_died() -> str | None:
        code = worker.proc.poll()
        return None if code is None else f"the worker exited with {code}"

    try:
        producer.start()
        wait_for(
            lambda: visible_in_index(index, workload.events) >= 100,
            120,
            lambda: "the index shows nothing before the outage",
            alive=worker_died,
        )
        fault_services.stop_redis()
        before = producer.offered
        time.sleep(OUTAGE_SECONDS)  # the deliberate outage
        assert worker_died() is None, workers.log_text()[-3000:]
        during = producer.offered - before
        fault_services.start_redis()
        # Recovered: everything offered before and during the outage is in the index.
        backlog = producer.offered_so_far()
        recovery = wait_for(
            lambda: visible_in_index(index, backlog) == len(backlog),
            180,
            lambda: (
                f"{visible_in_index(index, backlog)} of {len(backlog)} offered by the "
                "time Redis was back are in the index"
            ),
            alive=worker_died,
        )
        producer.finish(120)
        wait_for(
            lambda: visible_in_index(index, workload.events) == total,
            120,
            lambda: f"{visible_in_index(index, workload.events)} of {total} in the index",
            alive=worker_died,
        )
        wait_for(lambda: sinks_caught_up(config), 120, lambda: "sinks behind credit.records")
        assert worker.stop() == 0, workers.log_text()[-3000:]
    finally:
        producer.cancel()
        index.close()
    log = workers.log_text()
    # The sink retried instead of crashing or dropping the batch.
    assert "publicity: unavailable, retry the batch" in log, log[-3000:]

    report = CaseReport(
        "redis_down_30s",
        produced=total,
        recovery_s=recovery,
        details={"produced_during_outage": during, "worker_restarts": 0},
    )
    audit_and_report(report, config, fault_services, workload)


def operator(config, *args: str) -> subprocess.CompletedProcess:
    """A `creditsync` command as the operator runs it, against this test's services."""
    env = {
        **os.environ,
        "CREDITSYNC_KAFKA_BOOTSTRAP": config.bootstrap,
        "CREDITSYNC_REDIS_URL": config.redis_url,
        "CREDITSYNC_TOPIC_PREFIX": config.topic_prefix,
        "CREDITSYNC_CLICKHOUSE_DSN": "off",
        "CREDITSYNC_DATA_DIR": str(config.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "creditsync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_redis_restarted_with_its_data_gone(fault_services, fault_pipeline, workers):
    config = fault_pipeline
    workload = build_workload(4000, enterprises=120)
    first_half, second_half = workload.split(2)
    total = len(workload.events)
    index = redis.Redis(port=fault_services.redis_port)
    worker = workers.spawn(config)

    def worker_died() -> str | None:
        code = worker.proc.poll()
        return None if code is None else f"the worker exited with {code}"

    def shown() -> int:
        return visible_in_index(index, workload.events)

    try:
        publish(config.bootstrap, first_half.events, config.topic_prefix)
        wait_for(
            lambda: shown() == len(first_half.events),
            180,
            lambda: f"{shown()} of {len(first_half.events)} in the index before the loss",
            alive=worker_died,
        )
        fault_services.stop_redis()
        wiped = fault_services.wipe_redis_data()
        fault_services.start_redis()
        back = time.monotonic()
        assert wiped, "Redis had persisted nothing to delete"

        publish(config.bootstrap, second_half.events, config.topic_prefix)
        # The worker notices at its next write and says, loudly, what to run.
        wait_for(
            lambda: REBUILD_PUBLICITY_COMMAND in workers.log_text(),
            120,
            lambda: f"no worker log line names `{REBUILD_PUBLICITY_COMMAND}`",
            alive=worker_died,
        )
        status = operator(config, "status", "--json")
        assert status.returncode == 1, status.stdout + status.stderr
        checks = {c["name"]: c for c in json.loads(status.stdout)["services"]}
        assert not checks["publicity index"]["ok"]
        assert "publicity index was recreated empty at" in checks["publicity index"]["detail"]
        assert REBUILD_PUBLICITY_COMMAND in checks["publicity index"]["detail"]

        wait_for(
            lambda: visible_in_index(index, second_half.events) == len(second_half.events),
            180,
            lambda: (
                f"{visible_in_index(index, second_half.events)} of "
                f"{len(second_half.events)} sent after the loss in the index"
            ),
            alive=worker_died,
        )
        lost_before_replay = total - shown()

        # The operator runs the one command, while the worker keeps running.
        replay = operator(config, *REBUILD_PUBLICITY_COMMAND.split()[1:])
        assert replay.returncode == 0, replay.stdout + replay.stderr
        wait_for(lambda: shown() == total, 60, lambda: f"{shown()} of {total} after the replay")
        recovery = time.monotonic() - back
        after = operator(config, "status", "--json")
        checks = {c["name"]: c for c in json.loads(after.stdout)["services"]}
        assert checks["publicity index"]["ok"], checks["publicity index"]
        wait_for(lambda: sinks_caught_up(config), 120, lambda: "sinks behind credit.records")
        assert worker.stop() == 0, workers.log_text()[-3000:]
    finally:
        index.close()

    report = CaseReport(
        "redis_data_gone",
        produced=total,
        recovery_s=recovery,
        details={
            "missing_from_index_until_replay": lost_before_replay,
            "worker_restarts": 0,
            "recovered_by": "operator replay",
        },
    )
    audit_and_report(report, config, fault_services, workload)
