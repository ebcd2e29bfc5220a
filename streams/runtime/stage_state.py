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
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from schemas import json_bytes
from schemas.kafka.config import KafkaSettings, client_config
from schemas.kafka.retry import poll_until
from schemas.message_size import TOPIC_MAX_MESSAGE_BYTES, message_size

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
    """One partition's table seen through the writes of the batch being processed.

    `packed`: the table holds each value as its changelog bytes and decodes it when read.
    The code registry and its aliases are millions of small dicts at a province's scale;
    as bytes they take about a third of the memory (bench `worker_peak_rss_mb`), and a
    look-up costs one `orjson.loads`."""

    def __init__(self, table: Table, packed: bool = False) -> None:
        self.table = table
        self.packed = packed
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
        value = self.table.get(key)
        if value is None:
            return default
        return orjson.loads(value) if self.packed else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._remember(key)
        self._staged[key] = value

    def pop(self, key: str, default: Any = None) -> Any:
        value = self.get(key, default)
        self._remember(key)
        self._staged[key] = _DELETED
        return value

    def commit_writes(self) -> list[tuple[str, bytes | None]]:
        """Apply the staged writes to the table; returns them as changelog records
        (key, encoded value), None for a deletion."""
        records: list[tuple[str, bytes | None]] = []
        encoded = self._encoded
        for key, value in self._staged.items():
            if value is _DELETED:
                self.table.pop(key, None)
                records.append((key, None))
                continue
            held = encoded.get(key)
            body = held[1] if held is not None and held[0] is value else encode_value(value)
            self.table[key] = body if self.packed else value
            records.append((key, body))
        self._staged.clear()
        self._encoded = {}
        self._undo = {}
        self._inner = None
        return records


class StageTables:
    """Every table of one stage, per partition this worker holds."""

    def __init__(
        self, group: str, names: tuple[str, ...], packed: frozenset[str] = frozenset()
    ) -> None:
        self.group = group
        self.names = names
        self.packed = packed
        self.partitions: dict[int, dict[str, Table]] = {}

    def topics(self) -> list[str]:
        return [changelog_topic(self.group, n) for n in self.names]

    def staged(self, partition: int) -> dict[str, StagedTable]:
        """The partition's tables, staged for one batch."""
        return {
            name: StagedTable(table, name in self.packed)
            for name, table in self.partitions[partition].items()
        }

    def restore(self, kafka: KafkaSettings, partitions: list[int]) -> None:
        """Read each new partition's changelogs to their end; tables of partitions held
        already are kept (the changelog has nothing newer than memory)."""
        for p in partitions:
            if p not in self.partitions:
                self.partitions[p] = {
                    n: read_changelog(
                        kafka, changelog_topic(self.group, n), p, packed=n in self.packed
                    )
                    for n in self.names
                }

    def release(self, partitions: list[int]) -> None:
        for p in partitions:
            self.partitions.pop(p, None)

    def size(self) -> int:
        return sum(len(t) for tables in self.partitions.values() for t in tables.values())


def read_changelog(
    kafka: KafkaSettings, topic: str, partition: int, *, packed: bool = False
) -> Table:
    """One partition of a changelog topic, replayed into a dict (a None value deletes);
    `packed`: values kept as their bytes (see StagedTable)."""
    consumer = Consumer(
        client_config(
            kafka, group_id=f"{topic}-restore", enable_auto_commit=False, enable_partition_eof=True
        )
    )
    table: Table = {}
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        if high <= low:
            return table
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        position = low
        while position < high:
            for m in consumer.consume(10_000, timeout=1.0):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        position = high  # the end (compaction may leave the last offsets empty)
                        continue
                    raise KafkaException(m.error())
                position = m.offset() + 1
                key = m.key().decode()
                if m.value() is None:
                    table.pop(key, None)
                else:
                    table[key] = m.value() if packed else orjson.loads(m.value())
    finally:
        consumer.close()
    log.info("restored %s[%d]: %d keys", topic, partition, len(table))
    return table


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
