"""The /metrics gauges of the pipeline status: what a scrape shows, cached, failures shown."""

from __future__ import annotations

from creditsync.ops.lag import PartitionLag
from creditsync.ops.status import ParkedSummary, PipelineStatus
from creditsync.pipeline_metrics import CACHE_SECONDS, PipelineStatusCollector, status_metrics


def a_status() -> PipelineStatus:
    return PipelineStatus(
        groups=["creditsync"],
        lag=[
            PartitionLag("creditsync", "credit.resolved", 0, committed=10, low=0, high=15),
            PartitionLag("creditsync", "credit.resolved", 1, committed=None, low=0, high=7),
        ],
        stage_counts={"credit.records": 40},
        rejected_total=5,
        rejected_open=2,
        parked=ParkedSummary(
            waiting=3, released=1, oldest_parked_at="2026-11-30", oldest_age_seconds=86400.0
        ),
    )


def samples(families) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_gauges_sum_lag_per_group_and_topic_and_show_the_counts():
    shown = samples(status_metrics(a_status()))
    lag = ("creditsync_consumer_lag", (("group", "creditsync"), ("topic", "credit.resolved")))
    assert shown[lag] == 12  # 5 + 7 (nothing committed: the whole partition)
    assert shown[("creditsync_rejected_open", ())] == 2
    assert shown[("creditsync_parked_waiting", ())] == 3
    assert shown[("creditsync_parked_oldest_age_seconds", ())] == 86400.0
    assert shown[("creditsync_open_notices", ())] == 0


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_readings_are_cached_and_a_failed_one_is_reported():
    clock, calls = Clock(), []
    collector = PipelineStatusCollector(clock)
    assert list(collector.collect()) == []  # no reader: a process without the pipeline

    def read() -> PipelineStatus:
        calls.append(clock.now)
        if len(calls) == 2:
            raise ConnectionError("broker down")
        return a_status()

    collector.read = read
    assert samples(collector.collect())[("creditsync_pipeline_status_up", ())] == 1
    clock.now = CACHE_SECONDS / 2
    assert samples(collector.collect())[("creditsync_rejected_open", ())] == 2
    assert len(calls) == 1, "cached"
    clock.now = CACHE_SECONDS * 2
    failed = samples(collector.collect())
    assert failed == {("creditsync_pipeline_status_up", ()): 0}
    assert samples(collector.collect())[("creditsync_pipeline_status_up", ())] == 1
