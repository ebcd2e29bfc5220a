"""`creditsync replay`: re-apply credit.records to the sinks from a point in time.

The same idempotent, versioned `write_batch` the workers use, so a replay converges to the
state the workers would have made: ClickHouse collapses repeated event ids (FINAL), and the
publicity index applies only versions newer than those it holds. A dry run asks each sink
what a batch would change (`preview_batch`, read-only) and writes nothing.

ClickHouse is given the consumed messages undecoded (the sink's native Avro path, with the
same offset-range deduplication tokens as the live sink), the publicity index the newest
version of each item over a window of records (ops/collapse.py). While `creditsync run`
owns the embedded ClickHouse, this runs inside that process (ops/replay_http.py says why
that, and not rewinding the sinks' consumer groups).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from creditsync.ops.collapse import newest_per_item
from creditsync.ops.errors import OpsError
from creditsync.ops.kafka_read import PartitionRange, ops_consumer, partition_ranges, read_ranges
from creditsync.ops.replay_progress import OffsetProgress
from schemas.codec import codec_for
from schemas.kafka.config import KafkaSettings
from schemas.kafka.retry import retrying
from schemas.topics import RECORDS
from sinks.base import RecordRejection, SinkResult
from sinks.errors import Backpressure, SinkUnavailable

Target = Literal["clickhouse", "publicity", "all"]
TARGETS: tuple[str, ...] = ("clickhouse", "publicity", "all")
# ClickHouse writes a part per insert and table: large batches keep parts few (and merges
# cheap); 10,000 records is a few MB in memory.
DEFAULT_BATCH = 10_000
# Publicity: versions are collapsed over this many records at a time (decoded records are
# held until then: about 2 KB each, so ~100 MB), then written in batches.
COLLAPSE_WINDOW = 50_000


class ReplayStopped(OpsError):
    """The replay was asked to stop (the server it ran in is shutting down)."""


def sinks_for(target: str) -> tuple[str, ...]:
    """The sink names a --target selects."""
    if target not in TARGETS:
        raise ValueError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    return ("clickhouse", "publicity") if target == "all" else (target,)


def record_matches(
    record: Mapping[str, Any], department: str | None = None, category: str | None = None
) -> bool:
    """Whether a record is selected by the --department / --category filters."""
    if department and (record.get("department") or {}).get("code") != department:
        return False
    return not (category and record.get("category") != category)


@dataclass
class SinkTally:
    """What the replay did (or, in a dry run, would do) in one sink."""

    applied: int = 0
    skipped_not_newer: int = 0
    not_applicable: int = 0
    # Publicity: older versions left out because a newer one of the item, leaving the same
    # traces, was in the replayed range (ops/collapse.py); never written, never needed.
    collapsed: int = 0
    rejected: list[RecordRejection] = field(default_factory=list)

    def add(self, result: SinkResult) -> None:
        self.applied += result.applied
        self.skipped_not_newer += result.skipped_not_newer
        self.not_applicable += result.not_applicable
        self.rejected.extend(result.rejected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "skipped_not_newer": self.skipped_not_newer,
            "not_applicable": self.not_applicable,
            "collapsed": self.collapsed,
            "rejected": len(self.rejected),
            "rejections": [
                {"event_id": r.event_id, "reason_code": r.reason_code, "reason": r.reason}
                for r in self.rejected[:20]
            ],
        }


@dataclass
class ReplayReport:
    topic: str
    dry_run: bool
    ranges: list[PartitionRange]
    read: int = 0
    selected: int = 0
    sinks: dict[str, SinkTally] = field(default_factory=dict)
    # Dry run only: distinct items (or identities) whose stored version would change.
    items_changed: dict[str, int] = field(default_factory=dict)

    @property
    def to_read(self) -> int:
        return sum(r.size for r in self.ranges)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "dry_run": self.dry_run,
            "to_read": self.to_read,
            "read": self.read,
            "selected": self.selected,
            "sinks": {name: tally.as_dict() for name, tally in self.sinks.items()},
            "items_changed": self.items_changed,
            "partitions": [
                {"partition": r.partition, "start": r.start, "end": r.end} for r in self.ranges
            ],
        }


def write_with_backoff(sink: Any, records: Sequence[Any], attempts: int = 6) -> SinkResult:
    """`write_batch`, retried with backoff while the store is unavailable or overloaded (the
    workers' rule); after `attempts` tries the last error is raised to the operator."""
    policy = retrying((Backpressure, SinkUnavailable), attempts=attempts, maximum=10.0)
    return policy(sink.write_batch, list(records))


def replay_records(
    kafka: KafkaSettings,
    topic_prefix: str,
    sinks: Mapping[str, Any],
    *,
    start_ms: int | None,
    end_ms: int | None = None,
    department: str | None = None,
    category: str | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    collapse_window: int = COLLAPSE_WINDOW,
    progress: OffsetProgress | None = None,
    stop: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Read credit.records in [start_ms, end_ms) and apply the selected records to `sinks`
    (name → a set-up sink); with `dry_run`, only preview what would change.

    `progress` is advanced from offsets as batches are read (another thread may read it);
    `on_start(total offsets)` and `on_progress(offsets done)` are called along; `stop`, once
    set, ends the replay after the batch in hand (ReplayStopped)."""
    topic = f"{topic_prefix}{RECORDS}"
    decode_many = codec_for("EnrichedRecord").decode_many
    progress = progress if progress is not None else OffsetProgress()
    consumer = ops_consumer(kafka, "replay", **{"fetch.max.bytes": 16 * 1024 * 1024})
    try:
        ranges = partition_ranges(consumer, [topic], start_ms, end_ms)
        report = ReplayReport(topic, dry_run, ranges, sinks={n: SinkTally() for n in sinks})
        progress.begin(ranges)
        if on_start is not None:
            on_start(report.to_read)
        feeds = {name: _Feed(name, dry_run, collapse_window) for name in sinks}
        # Records are decoded only for what needs them: the filters, a dry run's preview and
        # the publicity index. ClickHouse takes the messages as they are (native path).
        decode = bool(dry_run or department or category) or any(
            f.wants_records for f in feeds.values()
        )
        # Versions a dry run would have written, carried across batches per sink, so later
        # batches are compared with them as the real run would compare.
        assumed: dict[str, dict[Any, str]] = {name: {} for name in sinks}

        def apply(name: str, chunks: list[Sequence[Any]]) -> list[SinkResult]:
            sink = sinks[name]
            if dry_run:
                return [sink.preview_batch(list(c), assumed=assumed[name]) for c in chunks]
            return [write_with_backoff(sink, c) for c in chunks]

        # Each sink writes in a thread of its own, and the next batch is read and decoded
        # while the last one is written: ClickHouse (chdb) and the wait on Redis release the
        # GIL, so the sinks' costs overlap instead of adding up. Every sink still gets the
        # batches one at a time and in order.
        with ThreadPoolExecutor(len(sinks) or 1, thread_name_prefix="replay") as pool:
            writing: dict[str, Future[list[SinkResult]]] = {}

            def submit(final: bool, messages: list[Any], records: list[Any]) -> None:
                nonlocal writing
                # Cleared first, so a write's error is not collected again below.
                done, writing = writing, {}
                _collect(done, report)
                for name, feed in feeds.items():
                    chunks = feed.take(messages, records, batch_size, final=final)
                    report.sinks[name].collapsed += feed.dropped_now
                    if chunks:
                        writing[name] = pool.submit(apply, name, chunks)

            try:
                for messages in read_ranges(consumer, ranges, batch=batch_size):
                    if stop is not None and stop.is_set():
                        raise ReplayStopped(
                            f"replay stopped at {progress.done:,} of {progress.total:,} offsets"
                        )
                    report.read += len(messages)
                    progress.advance(messages)
                    records: list[Any] = decode_many(m.value() for m in messages) if decode else []
                    if department or category:
                        picked = [
                            i for i, r in enumerate(records)
                            if record_matches(r, department, category)
                        ]  # fmt: skip
                        messages = [messages[i] for i in picked]
                        records = [records[i] for i in picked]
                    report.selected += len(messages)
                    if messages:
                        submit(False, messages, records)
                    if on_progress is not None:
                        on_progress(progress.done)
                submit(True, [], [])
            finally:
                # Wait for the writes in flight even when reading failed; a write's own
                # error is raised here.
                _collect(writing, report)
        progress.finish()
        if on_progress is not None:
            on_progress(progress.done)
        if dry_run:
            report.items_changed = {name: len(seen) for name, seen in assumed.items()}
        elif not (start_ms or end_ms or department or category):
            # All of history is in the index again: clear the "recreated empty" flag.
            for sink in sinks.values():
                if hasattr(sink, "mark_rebuilt"):
                    sink.mark_rebuilt()
        return report
    finally:
        consumer.close()


class _Feed:
    """What one sink is given of each batch: ClickHouse the messages (undecoded, native
    path, the same offset-range dedup tokens as the sink's), the publicity index the newest
    version of each item over up to `window` records (ops/collapse.py), a dry run the
    records as they are (its preview compares each version)."""

    def __init__(self, name: str, dry_run: bool, window: int) -> None:
        self.messages_only = name == "clickhouse" and not dry_run
        self.collapse = name == "publicity" and not dry_run
        self.window = max(1, window)
        self.pending: list[Any] = []
        self.dropped_now = 0

    @property
    def wants_records(self) -> bool:
        return not self.messages_only

    def take(
        self, messages: list[Any], records: list[Any], batch: int, *, final: bool
    ) -> list[Sequence[Any]]:
        self.dropped_now = 0
        if self.messages_only:
            return [messages] if messages else []
        if not self.collapse:
            return [records] if records else []
        self.pending.extend(records)
        if not self.pending or (len(self.pending) < self.window and not final):
            return []
        collapsed = newest_per_item(self.pending)
        self.pending = []
        self.dropped_now = collapsed.dropped
        kept = collapsed.kept
        return [kept[i : i + batch] for i in range(0, len(kept), max(1, batch))]


def _collect(writing: Mapping[str, Future[list[SinkResult]]], report: ReplayReport) -> None:
    """Wait for every sink's write of the last batch and add up what it did; the first
    error is raised once all have finished (none is left running)."""
    wait(writing.values())
    for name, future in writing.items():
        for result in future.result():
            report.sinks[name].add(result)


def open_replay_sinks(
    names: tuple[str, ...], *, clickhouse_dsn: str | None, database: str, redis_url: str | None
) -> dict[str, Any]:
    """The chosen sinks, connected and set up (schema created, scripts loaded)."""
    opened: dict[str, Any] = {}
    try:
        if "clickhouse" in names:
            from sinks.clickhouse import ClickHouseSink, connect_clickhouse

            if not clickhouse_dsn:
                raise ValueError(
                    "--target clickhouse: ClickHouse is off (CREDITSYNC_CLICKHOUSE_DSN)"
                )
            opened["clickhouse"] = ClickHouseSink(connect_clickhouse(clickhouse_dsn, database))
        if "publicity" in names:
            from sinks.publicity import PublicityIndex
            from sinks.redis_client import open_redis

            if not redis_url:
                raise ValueError("--target publicity: Redis is off (CREDITSYNC_REDIS_URL)")
            opened["publicity"] = PublicityIndex(open_redis(redis_url))
        for sink in opened.values():
            sink.setup()
    except BaseException:
        close_sinks(opened)
        raise
    return opened


def close_sinks(sinks: Mapping[str, Any]) -> None:
    for sink in sinks.values():
        sink.close()
