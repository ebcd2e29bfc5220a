"""The lag summary `creditsync status` shows by default (per group and topic; --partitions
for each partition) and /metrics exports, and the one retry policy's stop and give-up."""

from __future__ import annotations

import threading

import pytest

from creditsync.ops.render import status_tables
from creditsync.ops.status import ParkedSummary, PipelineStatus
from creditsync.pipeline_metrics import status_metrics
from schemas.kafka.lag import PartitionLag, TopicLag, lag_by_topic
from schemas.kafka.retry import StopRequested, poll_until, retrying

LAGS = [
    PartitionLag("p.cs", "p.credit.resolved", 0, 10, 0, 15),
    PartitionLag("p.cs", "p.credit.resolved", 1, None, 0, 4),
    PartitionLag("p.cs", "p.credit.resolved", 2, 7, 0, 7),
    PartitionLag("p.cs-sink-clickhouse", "p.credit.records", 0, 3, 0, 3),
]


def _status() -> PipelineStatus:
    return PipelineStatus(
        groups=["p.cs", "p.cs-sink-clickhouse"],
        lag=LAGS,
        stage_counts={},
        rejected_total=0,
        rejected_open=0,
        parked=ParkedSummary(0, 0, None, None),
    )


def _rows(table) -> list[tuple[str, ...]]:
    """The cells as the terminal shows them (rich Text or markup strings)."""
    cells = ([str(c) for c in column._cells] for column in table.columns)
    return list(zip(*cells, strict=True))


def test_lag_sums_per_group_and_topic():
    assert lag_by_topic(LAGS) == [
        TopicLag("p.cs", "p.credit.resolved", partitions=3, committed_partitions=2, lag=9),
        TopicLag("p.cs-sink-clickhouse", "p.credit.records", 1, 1, 0),
    ]


def test_status_shows_a_row_per_group_and_topic_unless_partitions_are_asked_for():
    summary = status_tables(_status())[0]
    assert _rows(summary) == [
        ("p.cs", "p.credit.resolved", "2 / 3", "9"),
        ("p.cs-sink-clickhouse", "p.credit.records", "1 / 1", "0"),
    ]
    detail = status_tables(_status(), partitions=True)[0]
    assert len(_rows(detail)) == 4
    assert _rows(detail)[1] == ("p.cs", "p.credit.resolved", "1", "—", "4", "4")
    assert _status().as_dict()["lag_by_topic"][0]["lag"] == 9


def test_metrics_export_the_same_sums():
    (lag,) = [f for f in status_metrics(_status()) if f.name == "creditsync_consumer_lag"]
    assert {(s.labels["group"], s.labels["topic"]): s.value for s in lag.samples} == {
        ("p.cs", "p.credit.resolved"): 9,
        ("p.cs-sink-clickhouse", "p.credit.records"): 0,
    }


def test_a_retry_gives_up_after_its_attempts_with_the_last_error():
    calls = []

    def down() -> None:
        calls.append(1)
        raise ConnectionError(f"down {len(calls)}")

    with pytest.raises(ConnectionError, match="down 3"):
        retrying((ConnectionError,), attempts=3, initial=0.001)(down)
    assert len(calls) == 3


def test_a_stop_ends_the_wait_and_no_further_attempt_is_made():
    stop = threading.Event()
    calls = []

    def down() -> None:
        calls.append(1)
        stop.set()  # e.g. SIGTERM arrives while the store is down
        raise ConnectionError("down")

    # A backoff of an hour: only the stop can end the wait.
    with pytest.raises(StopRequested):
        retrying((ConnectionError,), stop=stop, initial=3600)(down)
    assert len(calls) == 1


def test_an_error_not_retried_is_raised_at_once():
    calls = []

    def bug() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retrying((ConnectionError,), attempts=5, initial=0.001)(bug)
    assert calls == [1]


def test_polling_answers_the_value_once_done_or_times_out():
    values = iter(range(10))
    assert poll_until(lambda: next(values), lambda v: v >= 3, within=5, every=0.001) == 3
    with pytest.raises(TimeoutError):
        poll_until(lambda: 0, lambda v: v > 0, within=0.05, every=0.01)
