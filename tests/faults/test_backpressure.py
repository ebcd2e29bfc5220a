"""Fault: load offered faster than the sinks drain it — backpressure, bounded memory.

What bounds the worker's memory is that every consumer loop holds one batch at a time plus
librdkafka's bounded prefetch (`queued.max.messages.kbytes`): the stage loop and each sink
loop `consume` a batch, finish it (outputs and writes acknowledged, offsets committed) and
only then take the next, so a slow sink leaves the backlog in Kafka where it belongs. The
worker's own state (the stages' tables: registry, items) grows with the data, not with the
backlog.
"""

from __future__ import annotations

import time

import pytest
import redis

from tests.faults.audit import CaseReport, full_audit, record_summary, visible_in_index, wait_for
from tests.faults.load import SteadyProducer, build_workload, rss_bytes
from tests.integration.helpers import sinks_caught_up

pytestmark = pytest.mark.faults

EVENTS = 20_000
SINK_BATCH = 100  # small: one ClickHouse insert per table and one Redis pipeline per 100
RSS_CAP = 1536 * 1024 * 1024  # generous: what a 2-core, few-GB machine can afford
# Growth over the warmed-up worker while the whole flood waits: holding the backlog itself
# (20,000 decoded events with their messages) would take several times this.
BACKLOG_GROWTH_CAP = 256 * 1024 * 1024


def test_load_faster_than_the_sinks_drain(fault_services, fault_pipeline, workers):
    config = fault_pipeline
    workload = build_workload(10_000, enterprises=-(-EVENTS // 7))
    total = len(workload.events)
    index = redis.Redis(port=fault_services.redis_port)
    worker = workers.spawn(config, sink_batch_size=str(SINK_BATCH))
    producer = SteadyProducer(config.bootstrap, config.topic_prefix, workload, batch_size=2000)
    samples: list[tuple[float, int, int]] = []  # (seconds, backlog, rss bytes)

    def worker_died() -> str | None:
        code = worker.proc.poll()
        return None if code is None else f"the worker exited with {code}"

    began = time.monotonic()

    def sample_and_check() -> bool:
        shown = visible_in_index(index, workload.events)
        if worker.proc.poll() is None:
            samples.append(
                (time.monotonic() - began, producer.offered - shown, rss_bytes(worker.proc.pid))
            )
        return shown == total

    try:
        # The worker is up and has written its first batch before the flood starts.
        producer_warmup = build_workload(9_000, enterprises=5)
        warm = SteadyProducer(config.bootstrap, config.topic_prefix, producer_warmup)
        warm.start()
        warm.finish(60)
        wait_for(
            lambda: visible_in_index(index, producer_warmup.events) == len(producer_warmup.events),
            120,
            lambda: "the warm-up events never reached the index",
            alive=worker_died,
        )
        baseline = rss_bytes(worker.proc.pid)
        began = time.monotonic()
        producer.start()
        drained = wait_for(
            sample_and_check,
            420,
            lambda: f"{visible_in_index(index, workload.events)} of {total} in the index",
            alive=worker_died,
            poll=0.5,
        )
        producer.finish(60)
        produced_in = producer.finished_at - began if producer.finished_at else None
        wait_for(lambda: sinks_caught_up(config), 120, lambda: "sinks behind credit.records")
        assert worker.stop() == 0, workers.log_text()[-3000:]
    finally:
        producer.cancel()
        index.close()

    peak_backlog = max(b for _, b, _ in samples)
    peak_rss = max(r for _, _, r in samples)
    at_peak_backlog = next(r for _, b, r in samples if b == peak_backlog)
    mib = 1024 * 1024
    report = CaseReport(
        "backpressure_20k",
        produced=total,
        recovery_s=drained,
        details={
            "offered_in_s": round(produced_in or 0, 1),
            "drained_in_s": round(drained, 1),
            "peak_backlog": peak_backlog,
            "rss_baseline_mib": baseline // mib,
            "rss_at_peak_backlog_mib": at_peak_backlog // mib,
            "rss_peak_mib": peak_rss // mib,
            "sink_batch_size": SINK_BATCH,
            "samples": len(samples),
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
    # The load really was faster than the sinks: a backlog built up.
    assert peak_backlog >= total // 2, f"no backlog to speak of: {peak_backlog} of {total}"
    assert peak_rss < RSS_CAP, f"peak RSS {peak_rss // mib} MiB over {RSS_CAP // mib} MiB"
    assert at_peak_backlog - baseline < BACKLOG_GROWTH_CAP, (
        f"RSS grew {(at_peak_backlog - baseline) // mib} MiB with a backlog of {peak_backlog}"
    )
