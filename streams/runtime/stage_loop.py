"""The stateful stream stages' consumer loop: intake and items, one consumer group, one thread.

Earlier these stages were Faust agents over Faust tables. After a kill -9 and restart with a
backlog they stalled about one run in five, or ended one record short with no lag anywhere,
and once hung in Faust's producer buffer so the worker could not stop (CI runs of issue #7;
faust-streaming's flow control and changelog flush are outside our control). The loop here
does what those agents did with nothing acknowledged behind our back:

1. take a batch: what has arrived, as soon as anything has (librdkafka's fetch queue, in C);
2. hand each message to its stage with the tables of its partition, writes staged;
3. wait until Kafka acknowledged every output of the batch;
4. write the staged table changes to their changelogs and wait for those too, in phases
   (below), then apply them to the tables (on disk: with the changelog offset they reflect);
5. commit the batch's offsets, synchronously.

Changelog phases. librdkafka sends each partition's records in requests of their own, so a
kill during one flush can leave some changelog partitions written and others not. That is
harmless for a table a re-read writes again, not for one that makes a re-read skip work: an
item's version (the items stage skips a record it has seen), a parked list emptied (intake
re-drives only what is still parked). A fault run of issue #18 lost 15 items that way: the
parked lists were popped, the items the re-drive handed to the items stage were not written,
and the re-read had nothing left to re-drive. So the changelogs are acknowledged one phase
after another, what a skip relies on after what it would skip: the items stage's notices,
then its items, then intake's tables (intake writes into the items tables through the
handoff). A phase with no writes costs nothing.

The group is `<prefix><app id>` and reads every stage's topics with the range assignor, so
partition p of each intake topic and of `credit.registry-aliases` land on the same worker
(the tables of partition p serve both). A partition newly assigned is restored from its
changelogs before its first message is handled. Timers (re-checking parked records,
expiring items) run between batches on the same thread, so tables need no locks.

No input can stop the loop (issue #13): a message whose outputs, or whose state value's
changelog record, would be over the topics' message limit is refused whole — its outputs
discarded, its table writes undone — and dead-lettered with the reason; the batch goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import Consumer, TopicPartition

from schemas.dead_letters import Rejection
from schemas.kafka.config import KafkaSettings
from streams.runtime.handoff import Handoff
from streams.runtime.messages import Received
from streams.runtime.metrics import STAGE_MESSAGES
from streams.runtime.outputs import Outputs, OutputTooLarge, send_dead_letter
from streams.runtime.sink_loop import (
    commit_offsets,
    consumer_config,
    next_offsets,
    take_arrived,
    usable,
)
from streams.runtime.stage_state import StagedTable, StageTables, changelog_topic

log = logging.getLogger(__name__)


class Stage(Protocol):
    """One stateful stage: the topics it reads, its tables, and what it does with a message."""

    name: str
    topics: list[str]
    tables: StageTables

    def handle(self, message: Received, tables: dict[str, StagedTable]) -> None: ...

    # Each stage's credit.rejected (`rejected`), and optionally `identify(message)`: the
    # event_id / department / category of a message for its dead letter, and
    # `assigned(partitions)`: what the stage reads from Kafka once per assignment (after its
    # tables are restored), never while handling a message.

    def tick(self, now: float) -> None:
        """Periodic work between batches (`now`: time.monotonic())."""


@dataclass
class StageLoop:
    """The stages' topics through one consumer; `run` blocks until `stop` or a failure."""

    stages: list[Stage]
    group: str
    kafka: KafkaSettings
    out: Outputs
    batch_size: int = 1000
    poll_seconds: float = 0.2
    restoring: bool = False
    batches: int = 0
    _by_topic: dict[str, Stage] = field(default_factory=dict)
    _held: set[TopicPartition] = field(default_factory=set)
    # The batch's staged tables by (stage, partition), and those the message being handled
    # has touched (checkpointed at first touch, undone with it if it is refused).
    _staged: dict[tuple[str, int], dict[str, StagedTable]] = field(default_factory=dict)
    _touched: dict[tuple[str, int], dict[str, StagedTable]] = field(default_factory=dict)
    handoff: Handoff | None = None
    # Fault injection for tests: called after each changelog phase of a batch is
    # acknowledged, with its index and every phase's tables (a kill between two phases).
    after_changelog_phase: Callable[[int, list[tuple[str, ...]]], None] | None = None
    _phases: list[tuple[Stage, tuple[str, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_topic = {t: stage for stage in self.stages for t in stage.topics}
        self._phases = changelog_phases(self.stages)
        items = next((s for s in self.stages if s.name == "items"), None)
        if items is not None:
            # Intake hands resolved records to the items stage of this loop when it holds
            # their partition (streams/runtime/handoff.py).
            self.handoff = Handoff(
                items,  # type: ignore[arg-type]
                self.group,
                self.out,
                lambda partition: self._tables(items, partition),
                lambda tables: _state_too_large(items, None, tables, self.out.limit) is not None,
            )
            for stage in self.stages:
                if hasattr(stage, "handoff"):
                    stage.handoff = self.handoff

    def run(self, stop: threading.Event) -> None:
        # Co-partitioning: the same partition numbers of every topic go to one member.
        config = consumer_config(self.kafka, self.group, {"partition.assignment.strategy": "range"})
        consumer = Consumer(config)
        consumer.subscribe(list(self._by_topic), on_assign=self._assigned, on_lost=self._lost)
        try:
            while not stop.is_set():
                messages = take_arrived(consumer, self.batch_size, self.poll_seconds)
                batch = [m for m in messages if usable(m)]
                if batch:
                    self._process([Received.of(m) for m in batch])
                    commit_offsets(consumer, next_offsets(batch), stop)
                    self.batches += 1
                now = time.monotonic()
                for stage in self.stages:
                    stage.tick(now)
        finally:
            consumer.close()
            for stage in self.stages:
                # Every store reflects a prefix of its changelog, also after a failed batch
                # (writes reach it only once acknowledged): a restart reads only the tail.
                stage.tables.close()
                close = getattr(stage, "close", None)  # a stage's own clients (items: ownership)
                if close is not None:
                    close()

    def _tables(self, stage: Stage, partition: int) -> dict[str, StagedTable]:
        """The partition's tables staged for this batch, checkpointed for the message being
        handled the first time it touches them."""
        where = (stage.name, partition)
        tables = self._touched.get(where)
        if tables is None:
            tables = self._staged.get(where)
            if tables is None:
                tables = self._staged[where] = stage.tables.staged(partition)
            for table in tables.values():
                table.checkpoint()
            self._touched[where] = tables
        return tables

    def _process(self, batch: list[Received]) -> None:
        self._staged = staged = {}
        handled: dict[str, int] = {}
        for message in batch:
            stage = self._by_topic[message.topic]
            self._handle_one(stage, message)
            handled[stage.name] = handled.get(stage.name, 0) + 1
        self._touched = {}
        # Outputs first: state saying "done" must never precede the output it stands for.
        self.out.flush_blocking()
        self._acknowledge_changelogs(staged)
        # Then the tables: a store on disk records the changelog offset it reflects with
        # the writes, so it must not claim records Kafka has not acknowledged.
        for tables in staged.values():
            for table in tables.values():
                table.apply_writes()
        for name, count in handled.items():
            STAGE_MESSAGES.labels(name).inc(count)

    def _acknowledge_changelogs(
        self, staged: dict[tuple[str, int], dict[str, StagedTable]]
    ) -> None:
        """The batch's changelog records, phase by phase, each acknowledged before the next
        is sent (module docstring)."""
        phases: list[tuple[tuple[str, ...], list[tuple[str, int, list]]]] = []
        for stage, names in self._phases:
            writes = []
            for (owner, partition), tables in staged.items():
                if owner == stage.name:
                    for name in names:
                        records = tables[name].commit_writes()
                        if records:
                            writes.append((changelog_topic(self.group, name), partition, records))
            if writes:
                phases.append((names, writes))
        for index, (_, writes) in enumerate(phases):
            for topic, partition, records in writes:
                for key, body in records:
                    self.out.send(topic, key.encode(), body, partition=partition)
            self.out.flush_blocking()
            if self.after_changelog_phase is not None:
                self.after_changelog_phase(index, [names for names, _ in phases])

    def _handle_one(self, stage: Stage, message: Received) -> None:
        """One message, all or nothing as far as size goes: its outputs are held and its
        table writes checked before either is let through (also those of the items tables
        a handed-over record wrote)."""
        self._touched = {}
        tables = self._tables(stage, message.partition)
        self.out.hold()
        try:
            stage.handle(message, tables)
            reason = _state_too_large(stage, message, tables, self.out.limit)
        except OutputTooLarge as exc:
            reason = _output_too_large(stage, message, exc)
        if reason is None:
            self.out.release()
            return
        self.out.discard()
        for touched in self._touched.values():
            for table in touched.values():
                table.rollback()
        log.warning("refused %s: %s", _where(message), reason.message)
        identify = getattr(stage, "identify", None)
        ids = identify(message) if identify is not None else {}
        send_dead_letter(self.out, stage.rejected, message, reason, **ids)  # type: ignore[attr-defined]

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Eager (range) rebalancing revokes everything, then assigns: a partition held
        before and after was processed by no one in between, so its tables are kept; one
        that left is dropped; one that arrived is restored from its changelogs."""
        self.restoring = True
        try:
            new = {TopicPartition(tp.topic, tp.partition) for tp in partitions}
            for stage in self.stages:
                mine = {tp.partition for tp in new if tp.topic in stage.topics}
                gone = set(stage.tables.partitions) - mine
                stage.tables.release(sorted(gone))
                started = time.monotonic()
                stage.tables.restore(self.kafka, sorted(mine))
                assigned = getattr(
                    stage, "assigned", None
                )  # what a stage reads once, not per message
                if assigned is not None:
                    assigned(sorted(mine))
                if stage.name == "items" and self.handoff is not None:
                    self.handoff.assigned(consumer)
                log.info(
                    "stage %s holds partitions %s (%d keys, restored in %.1fs)",
                    stage.name, sorted(mine), stage.tables.size(), time.monotonic() - started,
                )  # fmt: skip
            self._held = new
        finally:
            self.restoring = False

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The session expired: others may have processed these partitions meanwhile.
        for stage in self.stages:
            lost = [tp.partition for tp in partitions if tp.topic in stage.topics]
            stage.tables.release(lost)
        log.warning("stage partitions lost (session expired): %s", partitions)


def changelog_phases(stages: list[Stage]) -> list[tuple[Stage, tuple[str, ...]]]:
    """(stage, tables) in the order their changelogs are acknowledged: a stage that hands
    records to another (intake, with its `handoff`) after the stage it hands them to, and
    within a stage its own `changelog_phases` (default: all its tables at once)."""
    ordered = sorted(stages, key=lambda stage: hasattr(stage, "handoff"))
    phases = []
    for stage in ordered:
        own = getattr(stage, "changelog_phases", (stage.tables.names,))
        if sorted(n for names in own for n in names) != sorted(stage.tables.names):
            raise ValueError(f"stage {stage.name}: changelog phases {own} are not its tables")
        phases += [(stage, tuple(names)) for names in own]
    return phases


def _where(message: Received) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"


def _output_too_large(stage: Stage, message: Received, exc: OutputTooLarge) -> Rejection:
    key = (exc.key or b"").decode("utf-8", "replace")
    return Rejection(
        "output_too_large",
        None,
        f"记录 {_where(message)} 未处理：它的输出（发往 {exc.topic}，键 {key!r}）编码后 "
        f"{exc.size} 字节，超过主题消息上限 {exc.limit} 字节；其余记录照常处理，"
        "请缩短该记录的长文本字段后重新报送",
        stage.name,
        "streams.OutputTooLarge",
    )


def _state_too_large(
    stage: Stage, message: Received | None, tables: dict[str, StagedTable], limit: int
) -> Rejection | None:
    """Why the message's writes cannot stay; `message` None: the writes since the tables'
    savepoint (a record handed to the items stage, streams/runtime/handoff.py)."""
    for name, table in tables.items():
        for key, size in table.oversized(limit, since_savepoint=message is None):
            if message is None:
                return Rejection("state_too_large", None, key, stage.name, "")
            return Rejection(
                "state_too_large",
                None,
                f"记录 {_where(message)} 未应用：它使状态表 {stage.name}.{name} 中键 {key!r} "
                f"的值编码后达到 {size} 字节，超过变更日志主题消息上限 {limit} 字节；"
                "该键的状态保持原样，其余记录照常处理",
                stage.name,
                "streams.StateTooLarge",
            )
    return None
