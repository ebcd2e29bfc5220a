"""A stall is lag with no commit for a while: read from the commits' time stamps."""

from __future__ import annotations

from creditsync.ops.lag import PartitionLag, stalled_groups
from creditsync.ops.render import status_tables
from creditsync.ops.status import ParkedSummary, PipelineStatus
from creditsync.pipeline_metrics import status_metrics
from schemas.kafka.lag import commit_stamp, stamped_time
from streams.runtime.sink_loop import next_offsets
from tests.unit.test_streams_sink_loop import FakeMessage

NOW = 1_764_000_000.0


def test_a_commit_stamp_reads_back_and_anything_else_is_no_time():
    assert stamped_time(commit_stamp(NOW)) == NOW
    assert stamped_time("") is None
    assert stamped_time(None) is None
    assert stamped_time("committed_at=soon") is None
    assert stamped_time("written by someone else") is None
    [offset] = next_offsets([FakeMessage("r", 0, 5)], now=NOW)
    assert stamped_time(offset.metadata) == NOW


def test_lag_with_an_old_commit_is_a_stall_and_an_idle_or_moving_group_is_not():
    lags = [
        # the stages: lag on one partition, last commit 120 s ago
        PartitionLag("p.cs", "in", 0, 10, 0, 15, committed_at=NOW - 120),
        PartitionLag("p.cs", "in", 1, 4, 0, 4, committed_at=NOW - 1),
        # a sink: lag, but it committed a second ago (moving)
        PartitionLag("p.cs-sink-publicity", "rec", 0, 90, 0, 99, committed_at=NOW - 1),
        # operations: idle for an hour, no lag
        PartitionLag("p.cs-operations", "rej", 0, 3, 0, 3, committed_at=NOW - 3600),
        # a commit without a stamp (an older worker): no evidence either way
        PartitionLag("p.cs-sink-clickhouse", "rec", 0, 1, 0, 99),
        # lag on a partition never committed: counted from the group's newest commit
        PartitionLag("p.cs-x", "rec", 0, 5, 0, 5, committed_at=NOW - 50),
        PartitionLag("p.cs-x", "rec", 1, None, 0, 3),
    ]
    assert stalled_groups(lags, NOW, threshold=45) == {"p.cs": 120.0, "p.cs-x": 50.0}
    assert stalled_groups(lags, NOW, threshold=300) == {}


def test_status_and_metrics_show_the_stall():
    status = PipelineStatus(
        groups=["p.cs", "p.cs-operations"],
        lag=[],
        stage_counts={},
        rejected_total=0,
        rejected_open=0,
        parked=ParkedSummary(0, 0, None, None),
        stalled={"p.cs": 120.0},
    )
    shown = {
        (s.name, tuple(s.labels.items())): s.value
        for family in status_metrics(status)
        for s in family.samples
    }
    assert shown[("creditsync_stage_stalled_seconds", (("group", "p.cs"),))] == 120.0
    assert shown[("creditsync_stage_stalled_seconds", (("group", "p.cs-operations"),))] == 0.0
    counts = status_tables(status)[1]
    rows = list(zip(*(column._cells for column in counts.columns), strict=True))
    assert ("p.cs", "[red]stalled: lag with no commit for 120 s[/red]") in rows
    assert status.as_dict()["stalled"] == {"p.cs": 120.0}
