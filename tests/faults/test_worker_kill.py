"""Fault: the worker is killed with -9 in the middle of a batch, then restarted."""

from __future__ import annotations

import time

import pytest
import redis

from tests.faults.audit import CaseReport, full_audit, record_summary, visible_in_index, wait_for
from tests.faults.load import build_workload
from tests.intake_factory import publish
from tests.integration.helpers import sinks_caught_up

pytestmark = pytest.mark.faults


def test_worker_killed_mid_batch_and_restarted(fault_services, fault_pipeline, workers):
    config = fault_pipeline
    workload = build_workload(1000, enterprises=200)
    total = len(workload.events)
    # All sent up front: the worker has a backlog in every stage when it is killed.
    publish(config.bootstrap, workload.events, config.topic_prefix)
    index = redis.Redis(port=fault_services.redis_port)
    try:

        def shown() -> int:
            return visible_in_index(index, workload.events)

        first = workers.spawn(config)
        # Killed once a fifth is in the index: batches are in flight in all three stages.
        wait_for(
            lambda: shown() >= total // 5,
            180,
            lambda: f"{shown()} of {total} in the index before the kill",
            alive=lambda: first.proc.poll() is not None and f"worker exited {first.proc.poll()}",
        )
        first.kill()
        at_kill = shown()
        assert at_kill < total, "the worker finished before the kill: nothing was in flight"

        restarted = time.monotonic()
        second = workers.spawn(config)
        wait_for(
            lambda: shown() == total,
            240,
            lambda: f"{shown()} of {total} in the index after the restart ({at_kill} at kill)",
            alive=lambda: second.proc.poll() is not None and f"worker exited {second.proc.poll()}",
        )
        recovery = time.monotonic() - restarted
        wait_for(lambda: sinks_caught_up(config), 120, lambda: "sinks behind credit.records")
        assert second.stop() == 0, workers.log_text()[-3000:]
    finally:
        index.close()

    report = CaseReport(
        "worker_kill_9",
        produced=total,
        recovery_s=recovery,
        details={"in_index_at_kill": at_kill, "worker_restarts": 1},
    )
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
