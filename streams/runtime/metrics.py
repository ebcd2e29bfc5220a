"""Prometheus metrics of the pipeline, exposed by the HTTP server at /metrics."""

from __future__ import annotations

import datetime as dt

from prometheus_client import Counter, Histogram

from schemas.records import EnrichedRecord
from sinks.base import SinkResult

SINK_RECORDS = Counter(
    "creditsync_sink_records_total",
    "Records a sink handled, by outcome (applied, skipped_not_newer, not_applicable, rejected)",
    ["sink", "outcome"],
)
STAGE_MESSAGES = Counter(
    "creditsync_stage_messages_total",
    "Messages a stream stage (intake, items) handled and committed",
    ["stage"],
)
END_TO_END = Histogram(
    "creditsync_end_to_end_seconds",
    "From emitted_at (the department's system) to written in a sink",
    ["sink"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def observe_batch(
    sink: str, result: SinkResult, records: list[EnrichedRecord], now: dt.datetime
) -> None:
    SINK_RECORDS.labels(sink, "applied").inc(result.applied)
    SINK_RECORDS.labels(sink, "skipped_not_newer").inc(result.skipped_not_newer)
    SINK_RECORDS.labels(sink, "not_applicable").inc(getattr(result, "not_applicable", 0))
    SINK_RECORDS.labels(sink, "rejected").inc(len(result.rejected))
    histogram = END_TO_END.labels(sink)
    for record in records:
        histogram.observe(max(0.0, (now - record["emitted_at"]).total_seconds()))
