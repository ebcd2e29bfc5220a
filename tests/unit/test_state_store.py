"""The stage tables' stores (issue #18): in memory and in RocksDB, same answers; on disk the
changelog position is written with the values and survives a clean close (no Kafka)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streams.runtime.stage_state import StagedTable, StageTables, encode_value
from streams.runtime.state_store import MemoryTable, RocksTable, Slot

REPO = Path(__file__).resolve().parents[2]


def writes(**values: object) -> list:
    return [(k, v, None if v is None else encode_value(v)) for k, v in values.items()]


@pytest.fixture(params=["memory", "packed", "rocksdb"])
def store(request, tmp_path):
    if request.param == "rocksdb":
        table = RocksTable(tmp_path / "t")
        table.begin("topic-id", 0)
        yield table
        table.drop()
    else:
        yield MemoryTable(packed=request.param == "packed")


def test_put_get_delete_and_iterate_answer_alike(store):
    store.write(writes(b={"name": "乙公司", "n": 2}, a=[1, 2], c="丙"))
    store.write(writes(c=None, d={"x": None}))
    assert store.get("b") == {"name": "乙公司", "n": 2}
    assert store.get("c") is None and store.get("c", "none") == "none"
    assert sorted(store) == ["a", "b", "d"]
    assert dict(store.items()) == {"a": [1, 2], "b": {"name": "乙公司", "n": 2}, "d": {"x": None}}
    assert len(store) == 3
    assert store.position == 5  # one changelog record per write


def test_a_rocksdb_store_reopened_after_a_clean_close_keeps_its_data_and_position(tmp_path):
    table = RocksTable(tmp_path / "t")
    table.begin("topic-id", 40)
    table.write(writes(a=1, b={"名": "甲"}))
    table.write(writes(a=None))
    table.close()
    again = RocksTable(tmp_path / "t")
    assert again.closed_cleanly and again.position == 43 and again.topic_id == "topic-id"
    assert dict(again.items()) == {"b": {"名": "甲"}} and len(again) == 1
    assert again.stale("topic-id", 0, 43) is None  # only the tail past 43 needs reading
    # In use again: a crash from now on must not look like a clean stop.
    again.begin("topic-id")
    assert not again.closed_cleanly
    again.drop()
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("topic_id", "low", "high", "reason"),
    [
        ("other-id", 0, 10, "recreated"),  # `replay --stage streams` deleted the changelog
        ("topic-id", 0, 5, "outside"),  # the changelog is behind the store: truncated
        ("topic-id", 8, 10, "outside"),  # records past the store were deleted
    ],
)
def test_a_store_the_changelog_does_not_continue_is_stale(tmp_path, topic_id, low, high, reason):
    table = RocksTable(tmp_path / "t")
    table.begin("topic-id", 0)
    table.write(writes(**{f"k{i}": i for i in range(7)}))
    table.close()
    again = RocksTable(tmp_path / "t")
    assert reason in again.stale(topic_id, low, high)
    assert again.stale("topic-id", 0, 7) is None
    # Stopped longer than the changelog keeps its tombstones: a deletion could be missed.
    assert "deletions may be compacted away" in again.stale("topic-id", 0, 7, now=2e9 + 86400)
    again.drop()


CRASHING_WRITER = """
import sys
from pathlib import Path
from streams.runtime.state_store import RocksTable
table = RocksTable(Path(sys.argv[1]))
table.begin("topic-id", 0)
for i in range(1_000_000):
    table.write([(f"k{i:07d}", i, str(i).encode()), ("last", i, str(i).encode())])
    if i == 2_000:
        print("going", flush=True)
"""


def test_a_kill_9_leaves_values_and_position_of_the_same_batch_and_no_clean_mark(tmp_path):
    path = tmp_path / "t"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CRASHING_WRITER), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout.readline().strip() == "going"
        child.kill()
    finally:
        child.wait()
        child.stdout.close()
    table = RocksTable(path)
    try:
        assert not table.closed_cleanly
        assert "not closed cleanly" in table.stale("topic-id", 0, 10**9)
        batches = table.position // 2
        # Whatever batch the kill hit, the position and the values are of the same batches.
        assert batches > 2_000 and len(table) == batches + 1
        assert table.get("last") == batches - 1
        assert table.get(f"k{batches - 1:07d}") == batches - 1
        assert table.get(f"k{batches:07d}") is None
    finally:
        table.drop()


def test_staged_writes_and_savepoints_reach_the_store_only_when_applied(tmp_path):
    store = RocksTable(tmp_path / "t")
    store.begin("topic-id", 0)
    store.write(writes(a=1))
    staged = StagedTable(store)
    staged.checkpoint()
    staged["a"] = 2
    staged.savepoint()
    staged["b"] = 3
    staged.pop("a")
    staged.rollback_savepoint()  # a handed-over record refused: its writes undone
    assert staged.get("a") == 2 and staged.get("b") is None
    assert store.get("a") == 1  # nothing reaches the store before the changelog
    assert staged.commit_writes() == [("a", b"2")]
    assert store.get("a") == 1 and store.position == 1
    staged.apply_writes()
    assert store.get("a") == 2 and store.position == 2
    store.drop()


def test_each_worker_process_holds_a_slot_of_its_own(tmp_path):
    first = Slot(tmp_path, ("items", "notices"))
    second = Slot(tmp_path, ("items", "notices"))
    other_stage = Slot(tmp_path, ("registry", "aliases", "parked"))
    assert (first.path.name, second.path.name, other_stage.path.name) == ("0", "1", "0")
    first.release()
    again = Slot(tmp_path, ("items", "notices"))
    assert again.path.name == "0"  # a restarted worker finds its own stores
    for slot in (second, other_stage, again):
        slot.release()


def test_released_partitions_are_deleted_and_a_close_marks_the_rest_clean(tmp_path):
    tables = StageTables("g", ("counts",), state_dir=tmp_path)
    tables._slot = Slot(tmp_path / "g", ("counts",))
    for p in (0, 1):
        store = RocksTable(tables._slot.path / "counts" / str(p))
        store.begin("topic-id", 0)
        store.write(writes(a=p))
        tables.partitions[p] = {"counts": store}
    tables.release([1])
    assert tables._slot.stored_partitions("counts") == {0}
    tables.close()
    kept = RocksTable(tmp_path / "g" / "0" / "counts" / "0")
    assert kept.closed_cleanly and kept.get("a") == 0 and kept.position == 1
    kept.drop()
