"""Fault: the Kafka broker restarts while agencies produce and the worker consumes."""

from __future__ import annotations

import time

import pytest
import redis

from tests.faults.audit import CaseReport, full_audit, record_summary, visible_in_index, wait_for
from tests.faults.load import SteadyProducer, build_workload
from tests.integration.helpers import sinks_caught_up

pytestmark = pytest.mark.faults


def test_broker_restart_during_production_and_consumption(fault_services, fault_pipeline, workers):
    config = fault_pipeline
    workload = build_workload(5000, enterprises=150)
    total = len(workload.events)
    # A short publish timeout: batches in flight while the broker is away fail and are sent
    # again (the agency's at-least-once), so the restart also puts duplicates on the intake.
    producer = SteadyProducer(
        config.bootstrap, config.topic_prefix, workload, rate=30, publish_timeout=3
    )
    index = redis.Redis(port=fault_services.redis_port)
    current = [workers.spawn(config)]
    restarts: list[int] = []

    def restart_if_dead() -> None:
        # What systemd (Restart=on-failure) would do; counted in the summary. A worker that
        # recovers by itself is never restarted.
        code = current[0].proc.poll()
        if code is not None:
            restarts.append(code)
            current[0] = workers.spawn(config)

    def shown(events) -> int:
        restart_if_dead()
        return visible_in_index(index, events)

    try:
        producer.start()
        wait_for(
            lambda: shown(workload.events) >= 100,
            120,
            lambda: "the index shows nothing before the restart",
        )
        down_at = time.monotonic()
        fault_services.stop_kafka()
        broker_down_s = time.monotonic() - down_at
        start_s = fault_services.start_kafka()
        # Recovered: everything offered before and during the outage is in the index.
        backlog = producer.offered_so_far()
        recovery = wait_for(
            lambda: shown(backlog) == len(backlog),
            240,
            lambda: (
                f"{visible_in_index(index, backlog)} of {len(backlog)} offered by the "
                "time the broker was back are in the index"
            ),
        )
        producer.finish(180)
        wait_for(
            lambda: shown(workload.events) == total,
            180,
            lambda: f"{visible_in_index(index, workload.events)} of {total} in the index",
        )
        wait_for(lambda: sinks_caught_up(config), 120, lambda: "sinks behind credit.records")
        assert current[0].stop() == 0, workers.log_text()[-3000:]
    finally:
        producer.cancel()
        index.close()

    report = CaseReport(
        "kafka_broker_restart",
        produced=total,
        recovery_s=recovery,
        details={
            "broker_stop_s": round(broker_down_s, 1),
            "broker_start_s": round(start_s, 1),
            "offered_when_broker_back": len(backlog),
            "producer_retries": producer.retries,
            "worker_restarts": len(restarts),
            "worker_exit_codes": restarts,
        },
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
