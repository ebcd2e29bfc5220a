"""The stream workers' consumer groups and their stalls, on the one lag reader.

Reading watermarks and committed offsets is schemas/kafka/lag.py's (LagReader); this module
knows which groups are the workers' and when lag with an old commit is a stall.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.kafka.lag import (
    ADMIN_TIMEOUT,
    LagReader,
    PartitionLag,
    TopicLag,
    lag_by_topic,
    partition_lag,
    total_lag,
)

__all__ = [
    "ADMIN_TIMEOUT",
    "STALL_SECONDS",
    "LagReader",
    "PartitionLag",
    "TopicLag",
    "lag_by_topic",
    "partition_lag",
    "stalled_groups",
    "total_lag",
    "worker_groups",
]

# Lag with no commit for this long is a stall (a loop commits after every batch).
STALL_SECONDS = 45.0


def worker_groups(reader: LagReader, prefix: str, worker_id: str) -> list[str]:
    """The stream workers' consumer groups, when the broker knows them (members or committed
    offsets): the stages' `<prefix><worker id>` (streams/runtime/stage_loop.py), one
    `<that>-sink-<sink>` per sink (streams/runtime/sink_loop.py) and the operations loop's
    `<that>-operations` (streams/operations_stage.py)."""
    app_id = f"{prefix}{worker_id}"
    ours = (app_id, f"{app_id}-operations")
    return sorted(g for g in reader.group_ids() if g in ours or g.startswith(f"{app_id}-sink-"))


def stalled_groups(
    lags: Iterable[PartitionLag], now: float, threshold: float = STALL_SECONDS
) -> dict[str, float]:
    """Groups with a partition that has lag and whose last commit is at least `threshold`
    seconds old: {group: seconds since that commit}; commits without a time stamp (an older
    worker's) are no evidence either way. A loop that runs commits every batch
    (about every second; the ClickHouse sink's batches gather for up to 5 s,
    CREDITSYNC_CLICKHOUSE_GATHER_SECONDS), so lag with an old commit means it has stopped
    taking its partitions. Right after a long-idle partition receives a message it shows
    too, until the loop's next commit (seconds): alert on the figure staying up, not on one
    reading."""
    lags = list(lags)
    newest: dict[str, float] = {}
    for item in lags:
        if item.committed_at is not None:
            newest[item.group] = max(newest.get(item.group, 0.0), item.committed_at)
    stalled: dict[str, float] = {}
    for item in lags:
        # A partition never committed on counts from the group's newest commit.
        since = item.committed_at if item.committed_at is not None else newest.get(item.group)
        if item.lag == 0 or since is None:
            continue
        age = max(0.0, now - since)
        if age >= threshold:
            stalled[item.group] = max(stalled.get(item.group, 0.0), age)
    return stalled
