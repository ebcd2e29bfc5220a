"""The stream stages' tables: in memory per partition, kept in compacted changelog topics.

Each table (code registry, aliases, parked records, per-item state, notices) is a dict per
partition of the topics its stage reads: a key lives in the partition of the event that wrote
it, which is the partition its look-ups come from (the topics are co-partitioned and keyed by
the code they are looked up by). Every write is also sent to `<group>-<table>-changelog`, on
that partition; a worker that is assigned a partition reads the partition's changelog to its
end before it processes anything from it.

Writes of a batch are staged (`StagedTable`) and applied only after the batch's outputs were
acknowledged by Kafka, then the changelog writes are acknowledged before the offsets are
committed. A crash at any point either re-reads the batch against state that has not seen it,
or against state that has and whose outputs were already delivered; outputs are idempotent by
event id and version.

Where the tables are kept (streams/runtime/state_store.py): in memory, restored from the whole
changelog at every assignment; or on disk in RocksDB (issue #18, the default of `run` and
`worker`), each partition with the changelog offset it reflects, so that after a clean stop
only the changelog's tail past that offset is read. A store that was not closed cleanly (a
crash), whose changelog was recreated, or whose offset the changelog no longer has, is
deleted and restored from the whole changelog, as in memory.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from schemas import json_bytes
from schemas.kafka.config import KafkaSettings, client_config
from schemas.kafka.retry import poll_until
from schemas.message_size import TOPIC_MAX_MESSAGE_BYTES, message_size
from streams.runtime.malloc_arenas import trim_malloc
from streams.runtime.state_store import (
    Indexer,
    MemoryTable,
    RocksTable,
    Slot,
    TableStore,
    Write,
)

log = logging.getLogger(__name__)

Table = dict[str, Any]
_DELETED = object()
_ABSENT = object()


def changelog_topic(group: str, table: str) -> str:
    """`<group>-<table>-changelog`: the name `creditsync replay --stage streams` deletes."""
    return f"{group}-{table}-changelog"


# Dates and datetimes raise, as the standard library's encoder did: a value must read back
# from its changelog as it is held in memory, and a date would read back as a string.
_STRICT_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode_value(value: Any) -> bytes:
    """A table value as its changelog bytes: compact JSON, Chinese text kept as UTF-8."""
    return json_bytes.dumps(value, option=_STRICT_JSON)


class StagedTable:
    """One partition's table seen through the writes of the batch being processed."""

    def __init__(self, table: TableStore) -> None:
        self.table = table
        self._staged: dict[str, Any] = {}
        # What the message being handled changed: key -> the staged value before it.
        self._undo: dict[str, Any] = {}
        # The same since `savepoint`, inside one message (a record handed to the items stage
        # by intake, streams/runtime/handoff.py); None when no savepoint is open.
        self._inner: dict[str, Any] | None = None
        # Changelog bytes of a staged value, made by the size check (`oversized`) and used by
        # `commit_writes` instead of encoding it again: key -> (the value, its bytes). Dropped
        # whenever the key is written, undone or read back (a read value may be changed in
        # place before it is written again).
        self._encoded: dict[str, tuple[Any, bytes]] = {}
        self._pending: list[Write] = []

    def checkpoint(self) -> None:
        """From here, remember what is written, so one message's writes can be undone."""
        self._undo = {}
        self._inner = None

    def rollback(self) -> None:
        """Undo the writes since `checkpoint`: the message is refused, the state unchanged."""
        for key, before in self._undo.items():
            self._encoded.pop(key, None)
            if before is _ABSENT:
                self._staged.pop(key, None)
            else:
                self._staged[key] = before
        self._undo = {}

    def savepoint(self) -> None:
        """From here, also remember writes for `rollback_savepoint` (one level, inside the
        message's checkpoint)."""
        self._inner = {}

    def rollback_savepoint(self) -> None:
        """Undo the writes since `savepoint`; those before it stay (and stay undoable)."""
        for key, before in (self._inner or {}).items():
            self._encoded.pop(key, None)
            if before is _ABSENT:
                self._staged.pop(key, None)
            else:
                self._staged[key] = before
        self._inner = None

    def release_savepoint(self) -> None:
        self._inner = None

    def oversized(self, limit: int, *, since_savepoint: bool = False) -> list[tuple[str, int]]:
        """(key, size) of each value written since `checkpoint` (or `savepoint`) whose
        changelog record would be over `limit` bytes (schemas/message_size.py)."""
        found = []
        for key in list(self._inner or ()) if since_savepoint else self._undo:
            value = self._staged.get(key, _DELETED)
            if value is not _DELETED:
                body = encode_value(value)
                self._encoded[key] = (value, body)
                size = message_size(key.encode(), body)
                if size > limit:
                    found.append((key, size))
        return found

    def _remember(self, key: str) -> None:
        self._encoded.pop(key, None)
        if key not in self._undo:
            self._undo[key] = self._staged.get(key, _ABSENT)
        if self._inner is not None and key not in self._inner:
            self._inner[key] = self._staged.get(key, _ABSENT)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._staged:
            value = self._staged[key]
            self._encoded.pop(key, None)
            return default if value is _DELETED else value
        return self.table.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._remember(key)
        self._staged[key] = value

    def pop(self, key: str, default: Any = None) -> Any:
        value = self.get(key, default)
        self._remember(key)
        self._staged[key] = _DELETED
        return value

    def commit_writes(self) -> list[tuple[str, bytes | None]]:
        """The staged writes as changelog records (key, encoded value; None for a
        deletion), held for `apply_writes` once the changelog acknowledged them."""
        records: list[tuple[str, bytes | None]] = []
        encoded = self._encoded
        for key, value in self._staged.items():
            if value is _DELETED:
                body = None
            else:
                held = encoded.get(key)
                body = held[1] if held is not None and held[0] is value else encode_value(value)
            self._pending.append((key, value, body))
            records.append((key, body))
        self._staged.clear()
        self._encoded = {}
        self._undo = {}
        self._inner = None
        return records

    def apply_writes(self) -> None:
        """Apply the committed writes to the table (on disk: with the changelog position
        they bring it to, in one write)."""
        pending, self._pending = self._pending, []
        if pending:
            self.table.write(pending)


class StageTables:
    """Every table of one stage, per partition this worker holds.

    `state_dir` None: in memory; otherwise RocksDB stores under
    `<state_dir>/<group>/<slot>/<table>/<partition>` (streams/runtime/state_store.py).
    `packed`: in memory, the tables whose values are kept as their bytes; `indexers`: on
    disk, the tables that keep an ordered index beside their values (RocksTable)."""

    def __init__(
        self,
        group: str,
        names: tuple[str, ...],
        packed: frozenset[str] = frozenset(),
        *,
        state_dir: Path | None = None,
        indexers: dict[str, Indexer] | None = None,
    ) -> None:
        self.group = group
        self.names = names
        self.packed = packed
        self.state_dir = state_dir
        self.indexers = indexers or {}
        self.partitions: dict[int, dict[str, TableStore]] = {}
        # Changelog records read at restores (issue #18: after a clean stop, only the tail).
        self.restored_records = 0
        self._slot: Slot | None = None

    def topics(self) -> list[str]:
        return [changelog_topic(self.group, n) for n in self.names]

    def staged(self, partition: int) -> dict[str, StagedTable]:
        """The partition's tables, staged for one batch."""
        return {name: StagedTable(table) for name, table in self.partitions[partition].items()}

    def restore(self, kafka: KafkaSettings, partitions: list[int]) -> None:
        """Bring each new partition's tables up to its changelogs' end; tables of partitions
        held already are kept (the changelog has nothing newer than they have)."""
        new = [p for p in partitions if p not in self.partitions]
        if self.state_dir is None:
            for p in new:
                self.partitions[p] = {n: self._read_into_memory(kafka, n, p) for n in self.names}
            return
        if self._slot is None:
            self._slot = Slot(self.state_dir / self.group, self.names)
        if new:
            self._restore_on_disk(kafka, new, self._slot)
        for name in self.names:
            # Stores left by an earlier run of partitions this worker does not hold now.
            for p in self._slot.stored_partitions(name) - set(self.partitions):
                shutil.rmtree(self._slot.path / name / str(p))

    def _read_into_memory(self, kafka: KafkaSettings, name: str, partition: int) -> MemoryTable:
        packed = name in self.packed
        table = read_changelog(
            kafka, changelog_topic(self.group, name), partition, packed=packed, tally=self
        )
        return MemoryTable(table, packed=packed)

    def _restore_on_disk(self, kafka: KafkaSettings, partitions: list[int], slot: Slot) -> None:
        ids = topic_ids(kafka, self.topics())
        consumer = _restore_consumer(kafka, f"{self.group}-restore")
        try:
            for p in partitions:
                tables: dict[str, TableStore] = {}
                try:
                    for name in self.names:
                        tables[name] = self._restore_table(consumer, ids, slot, name, p)
                except BaseException:
                    # Each store is a prefix of its changelog even half restored: kept.
                    for store in tables.values():
                        store.close()  # type: ignore[attr-defined]
                    raise
                # Only whole: other threads (metrics, the bench) read the partitions.
                self.partitions[p] = tables
                trim_malloc()
        finally:
            consumer.close()

    def _restore_table(
        self, consumer: Consumer, ids: dict[str, str], slot: Slot, name: str, p: int
    ) -> RocksTable:
        topic = changelog_topic(self.group, name)
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        indexer = self.indexers.get(name)
        store = RocksTable(slot.path / name / str(p), indexer)
        why = store.stale(ids[topic], low, high)
        if why is not None:
            store.drop()
            store = RocksTable(store.path, indexer)
            store.begin(ids[topic], low)
        else:
            store.begin(ids[topic])
        start = store.position
        try:
            read = replay_changelog(
                consumer,
                TopicPartition(topic, p, start),
                high,
                lambda ms, at: store.load({m.key(): m.value() for m in ms}, at),
            )
            if store.position < high:
                store.load({}, high)  # compaction may leave the last offsets empty
        except BaseException:
            store.close()
            raise
        self.restored_records += read
        log.info(
            "restored %s[%d] from offset %d to %d: %d changelog records read (%s)",
            topic, p, start, high, read, why or "tail after a clean stop",
        )  # fmt: skip
        return store

    def release(self, partitions: list[int]) -> None:
        """The partitions went elsewhere (a rebalance, a lost session): on disk, their stores
        are closed and deleted (another worker writes their changelogs from now on)."""
        for p in partitions:
            for store in self.partitions.pop(p, {}).values():
                if isinstance(store, RocksTable):
                    store.drop()

    def close(self) -> None:
        """The worker stops: stores on disk are marked clean and closed."""
        for tables in self.partitions.values():
            for store in tables.values():
                if isinstance(store, RocksTable):
                    store.close()
        self.partitions = {}
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    def size(self) -> int:
        return sum(len(t) for tables in self.partitions.values() for t in tables.values())


# A restore reads one partition at a time as fast as it can: librdkafka's default pre-fetch
# of up to 64 MB per partition, and chunks of 10,000 messages as Python objects, were the
# peak of a worker's memory at a full restore (issue #18, RSS at 5,000,000 codes).
RESTORE_PREFETCH_KB = 16_384
RESTORE_CHUNK = 2_000


def _restore_consumer(kafka: KafkaSettings, group_id: str) -> Consumer:
    return Consumer(
        client_config(
            kafka,
            group_id=group_id,
            enable_auto_commit=False,
            enable_partition_eof=True,
            queued_max_messages_kbytes=RESTORE_PREFETCH_KB,
        )
    )


def replay_changelog(
    consumer: Consumer,
    start: TopicPartition,
    high: int,
    apply: Callable[[list[Message], int], None],
) -> int:
    """Read one changelog partition from `start` to `high`, handing each chunk of records
    to `apply` with the offset it brings the table to; the number of records read."""
    if start.offset >= high:
        return 0
    consumer.assign([start])
    position, read = start.offset, 0
    try:
        while position < high:
            chunk = []
            for m in consumer.consume(RESTORE_CHUNK, timeout=1.0):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        position = max(position, high)  # the end (compaction gaps)
                        continue
                    raise KafkaException(m.error())
                position = m.offset() + 1
                chunk.append(m)
            if chunk:
                read += len(chunk)
                apply(chunk, position)
    finally:
        consumer.unassign()
    return read


def read_changelog(
    kafka: KafkaSettings,
    topic: str,
    partition: int,
    *,
    packed: bool = False,
    tally: StageTables | None = None,
) -> Table:
    """One partition of a changelog topic, replayed into a dict (a None value deletes);
    `packed`: values kept as their bytes (see MemoryTable); `tally`: counts the records
    read in its `restored_records`."""
    consumer = _restore_consumer(kafka, f"{topic}-restore")
    table: Table = {}

    def apply(messages: list[Message], _: int) -> None:
        for m in messages:
            key = m.key().decode()
            if m.value() is None:
                table.pop(key, None)
            else:
                table[key] = m.value() if packed else orjson.loads(m.value())

    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        read = replay_changelog(consumer, TopicPartition(topic, partition, low), high, apply)
    finally:
        consumer.close()
    if tally is not None:
        tally.restored_records += read
    log.info("restored %s[%d]: %d changelog records read, %d keys", topic, partition, read,
             len(table))  # fmt: skip
    return table


def topic_ids(kafka: KafkaSettings, topics: list[str]) -> dict[str, str]:
    """Each topic's id: a changelog deleted and created again (`creditsync replay --stage
    streams`) has a new one, and a store of the old one must not be continued."""
    admin = AdminClient(client_config(kafka))
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=30)
    return {name: str(future.result().topic_id) for name, future in futures.items()}


def existing_topics(kafka: KafkaSettings) -> set[str]:
    """The names of the topics the brokers have (one metadata request)."""
    return set(AdminClient(client_config(kafka)).list_topics(timeout=10).topics)


def declare_topics(
    kafka: KafkaSettings, names: list[str], partitions: int, *, compacted: bool = False
) -> None:
    """Create the topics if missing (changelogs: compacted, co-partitioned with the sources;
    a receiving department's notices: one partition), and wait until the broker's metadata
    shows all their partitions."""
    admin = AdminClient(client_config(kafka))
    existing = set(admin.list_topics(timeout=10).topics)
    config = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}
    if compacted:
        config["cleanup.policy"] = "compact"
    new = [NewTopic(n, partitions, 1, config=config) for n in names if n not in existing]
    for future in (admin.create_topics(new) if new else {}).values():
        try:
            future.result(30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    try:
        poll_until(
            lambda: admin.list_topics(timeout=10).topics,
            lambda topics: all(
                n in topics and len(topics[n].partitions) == partitions for n in names
            ),
            within=30.0,
        )
    except TimeoutError:
        raise TimeoutError(f"topics {names} did not show {partitions} partitions") from None
