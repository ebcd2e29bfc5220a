"""Consumer lag of the stream workers' consumer groups, per topic and partition.

Lag is the number of messages on a partition that the group has not committed past: the
high watermark minus the committed offset. A partition the group has never committed on
counts everything it still holds (high − low) — with auto.offset.reset=earliest the workers
will read all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams.runtime.sink_loop import stamped_time

ADMIN_TIMEOUT = 15.0
# Lag with no commit for this long is a stall (a loop commits after every batch).
STALL_SECONDS = 45.0


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: nothing committed yet
    low: int
    high: int
    committed_at: float | None = None  # when (epoch s), from the commit's metadata stamp

    @property
    def lag(self) -> int:
        return partition_lag(self.committed, self.low, self.high)


def partition_lag(committed: int | None, low: int, high: int) -> int:
    """Messages not yet consumed: from the committed offset (or the log start, when nothing
    is committed or retention deleted past the commit) to the high watermark."""
    if high <= low:
        return 0
    start = low if committed is None or committed < low else committed
    return max(0, high - start)


def total_lag(lags: Iterable[PartitionLag]) -> dict[str, int]:
    """Lag summed per group."""
    out: dict[str, int] = {}
    for item in lags:
        out[item.group] = out.get(item.group, 0) + item.lag
    return out


def worker_groups(admin: AdminClient, prefix: str, worker_id: str) -> list[str]:
    """The stream workers' consumer groups, when the broker knows them (members or committed
    offsets): the stages' `<prefix><worker id>` (streams/runtime/stage_loop.py), one
    `<that>-sink-<sink>` per sink (streams/runtime/sink_loop.py) and the operations loop's
    `<that>-operations` (streams/operations_stage.py)."""
    app_id = f"{prefix}{worker_id}"
    listed = admin.list_consumer_groups(request_timeout=ADMIN_TIMEOUT).result()
    ids = {g.group_id for g in listed.valid}
    ours = (app_id, f"{app_id}-operations")
    return sorted(g for g in ids if g in ours or g.startswith(f"{app_id}-sink-"))


def group_lag(admin: AdminClient, groups: Sequence[str]) -> list[PartitionLag]:
    """Lag per group, topic and partition, for every partition of the topics it reads."""
    committed: dict[tuple[str, str, int], int | None] = {}
    stamps: dict[tuple[str, str, int], float | None] = {}
    for group in groups:
        request = [ConsumerGroupTopicPartitions(group)]
        result = admin.list_consumer_group_offsets(request, request_timeout=ADMIN_TIMEOUT)
        for tp in result[group].result().topic_partitions:
            committed[(group, tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
            stamps[(group, tp.topic, tp.partition)] = stamped_time(tp.metadata)
    # Every partition of each topic the group reads: a partition it never committed on
    # (no message yet, or one it has not reached) is lag too.
    topics = admin.list_topics(timeout=ADMIN_TIMEOUT).topics
    for group, topic in sorted({(g, t) for g, t, _ in committed}):
        for partition in topics[topic].partitions if topic in topics else ():
            committed.setdefault((group, topic, partition), None)
    parts = sorted({(t, p) for _, t, p in committed})
    if not parts:
        return []
    low = _offsets(admin, parts, OffsetSpec.earliest())
    high = _offsets(admin, parts, OffsetSpec.latest())
    return [
        PartitionLag(g, t, p, c, low[(t, p)], high[(t, p)], stamps.get((g, t, p)))
        for (g, t, p), c in sorted(committed.items())
    ]


def stalled_groups(
    lags: Iterable[PartitionLag], now: float, threshold: float = STALL_SECONDS
) -> dict[str, float]:
    """Groups with a partition that has lag and whose last commit is at least `threshold`
    seconds old: {group: seconds since that commit}; commits without a time stamp (an older
    worker's) are no evidence either way. A loop that runs commits every batch
    (about every second), so lag with an old commit means it has stopped taking its
    partitions. Right after a long-idle partition receives a message it shows too, until the
    loop's next commit (a second): alert on the figure staying up, not on one reading."""
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


def _offsets(
    admin: AdminClient, parts: Sequence[tuple[str, int]], spec: OffsetSpec
) -> dict[tuple[str, int], int]:
    request = {TopicPartition(t, p): spec for t, p in parts}
    futures = admin.list_offsets(request, request_timeout=ADMIN_TIMEOUT)
    return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}


def topic_watermarks(admin: AdminClient, topics: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(sum of low, sum of high watermarks) per existing topic; messages = high − low."""
    metadata = admin.list_topics(timeout=ADMIN_TIMEOUT)
    parts = [(t, p) for t in topics if t in metadata.topics for p in metadata.topics[t].partitions]
    if not parts:
        return {}
    low = _offsets(admin, parts, OffsetSpec.earliest())
    high = _offsets(admin, parts, OffsetSpec.latest())
    out: dict[str, tuple[int, int]] = {}
    for t, p in parts:
        lo, hi = out.get(t, (0, 0))
        out[t] = (lo + low[(t, p)], hi + high[(t, p)])
    return out
