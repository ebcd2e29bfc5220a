"""/metrics gauges of what `creditsync status` shows: lag, stalls, rejected, parked, notices.

Read from Kafka when Prometheus scrapes, at most every CACHE_SECONDS (reading the parked and
notice topics on every scrape would cost the broker more than the answer is worth). A
reading that fails is reported, not hidden: `creditsync_pipeline_status_up` 0 and a warning
with the error; the other gauges are left out of that scrape rather than shown stale.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from creditsync.ops.status import PipelineStatus
from schemas.kafka.lag import lag_by_topic

log = logging.getLogger(__name__)
CACHE_SECONDS = 15.0


def status_metrics(status: PipelineStatus) -> list[GaugeMetricFamily]:
    """The gauges of one status reading (pure: what a scrape shows)."""
    lag = GaugeMetricFamily(
        "creditsync_consumer_lag",
        "Messages not yet committed by a consumer group, per topic",
        labels=["group", "topic"],
    )
    for topic in lag_by_topic(status.lag):
        lag.add_metric([topic.group, topic.topic], topic.lag)
    stages = GaugeMetricFamily(
        "creditsync_stage_records", "Records on each stage's topic", labels=["stage"]
    )
    for stage, count in status.stage_counts.items():
        stages.add_metric([stage], count)
    stalled = GaugeMetricFamily(
        "creditsync_stage_stalled_seconds",
        "Seconds since a consumer group with lag last committed (0: no stall); a stage or sink "
        "loop that has stopped taking its partitions. Alert when it stays above ~45",
        labels=["group"],
    )
    for group in status.groups:
        stalled.add_metric([group], status.stalled.get(group, 0.0))
    parked_age = status.parked.oldest_age_seconds
    return [
        lag,
        stages,
        stalled,
        GaugeMetricFamily(
            "creditsync_rejected_open", "Dead letters not re-driven", value=status.rejected_open
        ),
        GaugeMetricFamily(
            "creditsync_rejected_total", "Dead letters ever written", value=status.rejected_total
        ),
        GaugeMetricFamily(
            "creditsync_parked_waiting",
            "Records parked until their enterprise registers",
            value=status.parked.waiting,
        ),
        GaugeMetricFamily(
            "creditsync_parked_oldest_age_seconds",
            "Age of the oldest parked record (0 when none)",
            value=parked_age or 0.0,
        ),
        GaugeMetricFamily(
            "creditsync_open_notices",
            "Correction notices still open (DOMAIN.md deadlines)",
            value=len(status.notices),
        ),
    ]


class PipelineStatusCollector(Collector):
    """Registered once per process; `creditsync run` gives it the status reader."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.read: Callable[[], PipelineStatus] | None = None
        self._clock = clock
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.read is None:
            return
        up = GaugeMetricFamily(
            "creditsync_pipeline_status_up", "Whether the last status reading from Kafka worked"
        )
        now = self._clock()
        if self._cached is None or now - self._cached[0] >= CACHE_SECONDS:
            try:
                self._cached = (now, status_metrics(self.read()))
            except Exception as exc:  # reported as a gauge and a warning, never hidden
                log.warning("pipeline status for /metrics not readable: %s", exc)
                self._cached = None
                up.add_metric([], 0)
                yield up
                return
        up.add_metric([], 1)
        yield up
        yield from self._cached[1]


PIPELINE_STATUS = PipelineStatusCollector()
REGISTRY.register(PIPELINE_STATUS)
