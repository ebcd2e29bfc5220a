"""The one reader of watermarks and consumer lag: `creditsync status`, /metrics, tests, bench.

Lag is the number of messages on a partition that a group has not committed past: the high
watermark minus the committed offset. A partition the group has never committed on counts
everything it still holds (high − low): with auto.offset.reset=earliest it will read all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from schemas.kafka.config import KafkaSettings, client_config

ADMIN_TIMEOUT = 15.0
# Each commit carries its time in the offsets' metadata (streams/runtime/sink_loop.py), so
# `creditsync status` and /metrics can tell a group that has lag and no longer commits (a
# stall) from one that is idle.
COMMIT_STAMP = "committed_at="


def commit_stamp(now: float) -> str:
    return f"{COMMIT_STAMP}{now:.0f}"


def stamped_time(metadata: str | None) -> float | None:
    """The time a commit's metadata carries (None: no stamp, e.g. an older worker's)."""
    if not metadata or not metadata.startswith(COMMIT_STAMP):
        return None
    try:
        return float(metadata[len(COMMIT_STAMP) :])
    except ValueError:
        return None


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


@dataclass(frozen=True, slots=True)
class TopicLag:
    """One group's lag on one topic, its partitions summed."""

    group: str
    topic: str
    partitions: int
    committed_partitions: int
    lag: int


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


def lag_by_topic(lags: Iterable[PartitionLag]) -> list[TopicLag]:
    """Lag summed per group and topic, in (group, topic) order."""
    sums: dict[tuple[str, str], list[int]] = {}
    for item in lags:
        acc = sums.setdefault((item.group, item.topic), [0, 0, 0])
        acc[0] += 1
        acc[1] += item.committed is not None
        acc[2] += item.lag
    return [TopicLag(g, t, n, c, lag) for (g, t), (n, c, lag) in sorted(sums.items())]


class LagReader:
    """Watermarks and committed offsets through one AdminClient, made on first use."""

    def __init__(self, settings: KafkaSettings, timeout: float = ADMIN_TIMEOUT) -> None:
        self.settings, self.timeout = settings, timeout
        self._admin: AdminClient | None = None

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(client_config(self.settings))
        return self._admin

    def topic_names(self) -> set[str]:
        return set(self.admin.list_topics(timeout=self.timeout).topics)

    def group_ids(self) -> set[str]:
        """The consumer groups the broker knows (members or committed offsets)."""
        listed = self.admin.list_consumer_groups(request_timeout=self.timeout).result()
        return {g.group_id for g in listed.valid}

    def lags(
        self, groups: Sequence[str], topics: Sequence[str] | None = None
    ) -> list[PartitionLag]:
        """Lag per group, topic and partition, for every partition of the topics each group
        has committed on, and of `topics` (when given) whether committed on or not; with
        `topics`, only those."""
        committed: dict[tuple[str, str, int], int | None] = {}
        stamps: dict[tuple[str, str, int], float | None] = {}
        for group in groups:
            request = [ConsumerGroupTopicPartitions(group)]
            result = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout)
            for tp in result[group].result().topic_partitions:
                if topics is not None and tp.topic not in topics:
                    continue
                committed[(group, tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
                stamps[(group, tp.topic, tp.partition)] = stamped_time(tp.metadata)
        # Every partition of each topic the group reads: a partition it never committed on
        # (no message yet, or one it has not reached) is lag too.
        existing = self.admin.list_topics(timeout=self.timeout).topics
        read = {(g, t) for g, t, _ in committed} | {(g, t) for g in groups for t in topics or ()}
        for group, topic in sorted(read):
            for partition in existing[topic].partitions if topic in existing else ():
                committed.setdefault((group, topic, partition), None)
        parts = sorted({(t, p) for _, t, p in committed})
        if not parts:
            return []
        low, high = self.watermarks(parts)
        return [
            PartitionLag(g, t, p, c, low[(t, p)], high[(t, p)], stamps.get((g, t, p)))
            for (g, t, p), c in sorted(committed.items())
        ]

    def lag(self, group: str, topics: Sequence[str]) -> int:
        """Messages on `topics` past the group's commits, on every partition."""
        return sum(x.lag for x in self.lags([group], topics))

    def watermarks(
        self, parts: Sequence[tuple[str, int]]
    ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        """(low, high) watermarks of each (topic, partition)."""
        return self._offsets(parts, OffsetSpec.earliest()), self._offsets(
            parts, OffsetSpec.latest()
        )

    def topic_watermarks(self, topics: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(sum of low, sum of high watermarks) per existing topic; messages = high − low."""
        metadata = self.admin.list_topics(timeout=self.timeout)
        parts = [
            (t, p) for t in topics if t in metadata.topics for p in metadata.topics[t].partitions
        ]
        if not parts:
            return {}
        low, high = self.watermarks(parts)
        out: dict[str, tuple[int, int]] = {}
        for t, p in parts:
            lo, hi = out.get(t, (0, 0))
            out[t] = (lo + low[(t, p)], hi + high[(t, p)])
        return out

    def _offsets(
        self, parts: Sequence[tuple[str, int]], spec: OffsetSpec
    ) -> dict[tuple[str, int], int]:
        request = {TopicPartition(t, p): spec for t, p in parts}
        futures = self.admin.list_offsets(request, request_timeout=self.timeout)
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
