"""Where one partition of a stage table is kept: a dict in memory, or a RocksDB on disk.

Both answer the stage code the same way (`TableStore`): `get` and `items` give values as the
stages wrote them, decoded from their changelog bytes (orjson) where they are kept as bytes;
`write` applies a batch's writes once their changelog records were acknowledged, and moves
`position` (the changelog offset the table reflects, next to read) past them — every write
is one changelog record, and the stage loop is the partition's one writer while it holds it.

On disk (issue #18) each table partition is a RocksDB under
`<data dir>/state/<group>/<slot>/<table>/<partition>`. Its changelog position, the changelog
topic's id, its key count and a clean-close mark are reserved keys of the same database,
written in the same WriteBatch as the values, so the state and the position it claims cannot
part. A slot is a directory one worker process holds (an flock): workers sharing a data
directory (`creditsync run` with several stage processes) never open each other's stores.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson
from rocksdict import (
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteBufferManager,
    WriteOptions,
)

# A write: key, value as the stage wrote it, its changelog bytes (None: the key is deleted).
Write = tuple[str, Any, bytes | None]

MEMORY, ROCKSDB = "memory", "rocksdb"
STORES = (MEMORY, ROCKSDB)

# Reserved keys: 0xFE and 0xFF never occur in UTF-8, so no table key can be one of them,
# and they sort after every table key. 0xFE: entries of the table's ordered index.
_INDEX = b"\xfe"
_META = b"\xff"
POSITION = _META + b"position"
TOPIC_ID = _META + b"topic-id"
COUNT = _META + b"count"
CLEAN = _META + b"clean"
INDEX_FORMAT = _META + b"index-format"

# A table's ordered index: the sort key a value is found by (None: not in the index), from
# the value's changelog bytes. The items table's is its due date (streams/rules/expiry.py).
Indexer = Callable[[bytes], str | None]

# The changelogs keep a tombstone for delete.retention.ms (the broker's default, 24 h; the
# topics do not set it) before compaction removes it: a store stopped for longer could miss
# a deletion in the tail it reads, so it is restored whole instead.
MAX_STOPPED_SECONDS = 12 * 3600

# One block cache and one memtable budget for every store of the process: memory stays
# bounded whatever the number of partitions (RSS is the point of keeping state on disk).
_CACHE_BYTES = 64 << 20
_MEMTABLE_BYTES = 64 << 20
_shared: tuple[Cache, WriteBufferManager] | None = None


class TableStore(Protocol):
    """One partition of one stage table, as the stages and StagedTable use it."""

    position: int

    def get(self, key: str, default: Any = None) -> Any: ...

    def __iter__(self) -> Iterator[str]: ...

    def items(self) -> Iterator[tuple[str, Any]]: ...

    def __len__(self) -> int: ...

    def write(self, writes: list[Write]) -> None: ...


def _index_entry(sort_key: str, key: bytes) -> bytes:
    return _INDEX + sort_key.encode() + b"\x00" + key


class MemoryTable(dict):  # type: ignore[type-arg]
    """A dict per partition, as before issue #18 (`CREDITSYNC_STATE_STORE=memory`, tests).

    `packed`: values kept as their changelog bytes and decoded when read — the code registry
    and its aliases are millions of small dicts at a province's scale, and as bytes they take
    about a third of the memory."""

    def __init__(self, data: dict[str, Any] | None = None, packed: bool = False) -> None:
        super().__init__(data or {})
        self.packed = packed
        self.position = 0

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key)
        if value is None:
            return default
        return orjson.loads(value) if self.packed else value

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        if not self.packed:
            return iter(dict.items(self))
        return ((k, orjson.loads(v)) for k, v in dict.items(self))

    def write(self, writes: list[Write]) -> None:
        for key, value, body in writes:
            if body is None:
                self.pop(key, None)
            else:
                self[key] = body if self.packed else value
        self.position += len(writes)


def _options() -> Options:
    global _shared
    if _shared is None:
        cache = Cache(_CACHE_BYTES)
        _shared = (
            cache,
            WriteBufferManager.new_write_buffer_manager_with_cache(_MEMTABLE_BYTES, False, cache),
        )
    cache, memtables = _shared
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_bloom_filter(10, False)  # a look-up of a code not in the registry skips reads
    # Index and filter blocks stay outside the block cache (~12 MB per 1,000,000 codes):
    # in it, at 5,000,000 codes they were evicted by the memtables' reservations, and a
    # restore, which asks the filter for every key, read them again and again (>20 min).
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_manager(memtables)
    options.set_write_buffer_size(8 << 20)
    options.set_max_write_buffer_number(2)
    options.set_compression_type(DBCompressionType.lz4())
    options.set_max_open_files(64)
    return options


def _synced() -> WriteOptions:
    options = WriteOptions()
    options.sync = True
    return options


class RocksTable:
    """One table partition in its own RocksDB; values are the changelog bytes (orjson).

    `indexer`: an ordered index kept in the same database and the same WriteBatches as the
    values (entries `0xFE <sort key> 0x00 <key>`), so a restart finds e.g. the items due for
    an expiry check with a range read instead of decoding every value into memory."""

    def __init__(self, path: Path, indexer: Indexer | None = None) -> None:
        self.path = path
        self.indexer = indexer
        path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), _options())
        self.position = int(self._db.get(POSITION) or b"0")
        self.topic_id = (self._db.get(TOPIC_ID) or b"").decode()
        self._count = int(self._db.get(COUNT) or b"0")
        clean = self._db.get(CLEAN)
        self.closed_cleanly = clean is not None
        self.closed_at = float(clean) if clean else 0.0
        self._indexed = self._db.get(INDEX_FORMAT) is not None

    def stale(self, topic_id: str, low: int, high: int, now: float | None = None) -> str | None:
        """Why the store cannot be brought up to date from the changelog's tail (None: it
        can): what it reflects must be a prefix of the changelog as the topic has it now."""
        if not self.closed_cleanly:
            return "not closed cleanly (a crash, or new)"
        if self.indexer is not None and not self._indexed:
            return "written without its ordered index (an earlier version)"
        stopped = (time.time() if now is None else now) - self.closed_at
        if stopped > MAX_STOPPED_SECONDS:
            return f"stopped {stopped / 3600:.0f} h ago: deletions may be compacted away"
        if self.topic_id != topic_id:
            return f"changelog topic recreated (id {self.topic_id or '-'} -> {topic_id})"
        if not low <= self.position <= high:
            return f"checkpoint {self.position} outside the changelog's offsets {low}..{high}"
        return None

    def begin(self, topic_id: str, position: int | None = None) -> None:
        """In use from now: a crash before `close` must not pass for a clean stop."""
        batch = WriteBatch(raw_mode=True)
        batch.delete(CLEAN)
        batch.put(TOPIC_ID, topic_id.encode())
        if position is not None:
            self.position = position
        batch.put(POSITION, str(self.position).encode())
        if self.indexer is not None:
            batch.put(INDEX_FORMAT, b"1")
            self._indexed = True
        self._db.write(batch, _synced())
        self.topic_id, self.closed_cleanly = topic_id, False

    def get(self, key: str, default: Any = None) -> Any:
        value = self._db.get(key.encode())
        return default if value is None else orjson.loads(value)

    def __iter__(self) -> Iterator[str]:
        for key in self._db.keys():  # noqa: SIM118 (an Rdict, not a dict)
            if key[:1] >= _INDEX:
                break  # the index and the reserved keys sort after every table key
            yield key.decode()

    def items(self) -> Iterator[tuple[str, Any]]:
        for key, value in self._db.items():
            if key[:1] >= _INDEX:
                break
            yield key.decode(), orjson.loads(value)

    def indexed_up_to(self, sort_key: str) -> Iterator[tuple[str, str]]:
        """(sort key, table key) of the index entries whose sort key is ≤ `sort_key`, in
        order."""
        end = _INDEX + sort_key.encode() + b"\x01"
        for entry in self._db.keys(from_key=_INDEX):
            if entry >= end:
                break
            found, _, key = entry[1:].partition(b"\x00")
            yield found.decode(), key.decode()

    def __len__(self) -> int:
        return self._count

    def write(self, writes: list[Write]) -> None:
        self.load({k.encode(): body for k, _, body in writes}, self.position + len(writes))

    def load(self, puts: dict[bytes, bytes | None], position: int) -> None:
        """Apply changelog records (None deletes) and the position they bring the table
        to, in one WriteBatch."""
        db, count, indexer = self._db, self._count, self.indexer
        batch = WriteBatch(raw_mode=True)
        for key, body in puts.items():
            old = db.get(key) if db.key_may_exist(key) else None
            had = old is not None
            if body is None:
                batch.delete(key)
                count -= had
            else:
                batch.put(key, body)
                count += not had
            if indexer is not None:
                before = indexer(old) if had else None
                after = indexer(body) if body is not None else None
                if before != after:
                    if before is not None:
                        batch.delete(_index_entry(before, key))
                    if after is not None:
                        batch.put(_index_entry(after, key), b"")
        batch.put(POSITION, str(position).encode())
        batch.put(COUNT, str(count).encode())
        db.write(batch)
        self.position, self._count = position, count

    def close(self) -> None:
        """Mark the store clean (synced) and close it: a restart reads only the tail."""
        self._db.put(CLEAN, str(time.time()).encode(), _synced())
        self._db.close()
        self.closed_cleanly = True

    def drop(self) -> None:
        """Close and delete: the partition went to another worker, or the store is stale."""
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=False)


class Slot:
    """The directory of one worker process's stores for a set of tables, held by an flock
    until `release`: the lowest-numbered free one, so a restarted worker finds its own."""

    def __init__(self, root: Path, tables: tuple[str, ...]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        lock_name = "+".join(tables) + ".lock"
        for n in itertools.count():
            path = root / str(n)
            path.mkdir(exist_ok=True)
            fd = os.open(path / lock_name, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.path, self._fd = path, fd
            return

    def stored_partitions(self, table: str) -> set[int]:
        where = self.path / table
        if not where.exists():
            return set()
        return {int(p.name) for p in where.iterdir() if p.name.isdigit()}

    def release(self) -> None:
        os.close(self._fd)
