"""The items stage's due dates (streams/rules/expiry.py): who is checked, and when; in
memory (a heap) and on disk (the RocksDB items table's own index)."""

from __future__ import annotations

import pytest

from streams.rules.expiry import (
    HeapDueDates,
    StoredDueDates,
    build_heap,
    due_date_of,
    note_state,
    pop_due,
)
from streams.runtime.stage_state import encode_value
from streams.runtime.state_store import MemoryTable, RocksTable


def public(expires_on: str | None, status: str = "public") -> dict:
    return {"expires_on": expires_on, "status": status}


def test_restrictions_leave_on_their_due_date_not_before_in_date_order() -> None:
    table = {
        "A|restriction:1": public("2024-03-10"),
        "B|restriction:2": public("2024-03-12"),
        "C|license:3": public(None),  # no period: never checked
        "D|restriction:4": public("2024-03-09", status="under_review"),
    }
    heap = build_heap(table.items())
    assert pop_due(heap, "2024-03-08", table.get) == []
    assert pop_due(heap, "2024-03-10", table.get) == ["D|restriction:4", "A|restriction:1"]
    assert pop_due(heap, "2024-03-11", table.get) == []  # each taken once
    assert pop_due(heap, "2024-03-12", table.get) == ["B|restriction:2"]
    assert heap == []


def test_an_updated_due_date_counts_not_the_one_noted_first() -> None:
    table = {"A|restriction:1": public("2024-03-10")}
    heap = build_heap(table.items())
    # A change moved the end of the restriction later: the first entry is stale.
    table["A|restriction:1"] = public("2024-03-20")
    note_state(heap, "A|restriction:1", table["A|restriction:1"])
    assert pop_due(heap, "2024-03-15", table.get) == []
    assert pop_due(heap, "2024-03-20", table.get) == ["A|restriction:1"]
    # Moved earlier: due on the new date.
    table["B|restriction:2"] = public("2024-04-01")
    note_state(heap, "B|restriction:2", table["B|restriction:2"])
    table["B|restriction:2"] = public("2024-03-25")
    note_state(heap, "B|restriction:2", table["B|restriction:2"])
    assert pop_due(heap, "2024-03-25", table.get) == ["B|restriction:2"]
    table["B|restriction:2"] = public("2024-03-25", status="expired")  # its check applied
    assert pop_due(heap, "2024-04-01", table.get) == []  # the stale 04-01 entry: dropped
    assert heap == []


def test_withdrawn_expired_and_removed_items_are_not_checked() -> None:
    table = {
        "A|restriction:1": public("2024-03-10"),
        "B|restriction:2": public("2024-03-10"),
        "C|restriction:3": public("2024-03-10"),
    }
    heap = build_heap(table.items())
    table["A|restriction:1"] = public("2024-03-10", status="withdrawn")
    note_state(heap, "A|restriction:1", table["A|restriction:1"])  # not public: not pushed
    table["B|restriction:2"] = public("2024-03-10", status="expired")  # the check applied
    del table["C|restriction:3"]
    assert pop_due(heap, "2024-03-31", table.get) == []
    assert heap == []


def test_a_check_whose_item_is_still_due_after_it_comes_back_by_its_state_write() -> None:
    table = {"A|restriction:1": public("2024-03-10")}
    heap = build_heap(table.items())
    assert pop_due(heap, "2024-03-10", table.get) == ["A|restriction:1"]
    assert pop_due(heap, "2024-03-10", table.get) == []  # sent once until its check is handled
    note_state(heap, "A|restriction:1", table["A|restriction:1"])  # the check's state write
    assert pop_due(heap, "2024-03-10", table.get) == ["A|restriction:1"]


# Issue #18: on disk the items table keeps its own due-date index (RocksTable's indexer) and
# StoredDueDates reads it; the same scenarios must give the same keys as the heap.


class Items:
    """An items table and its due dates, written as the items stage writes them."""

    def __init__(self, kind: str, tmp_path, initial: dict) -> None:
        self.kind = kind
        if kind == "rocksdb":
            self.table = RocksTable(tmp_path / "items", due_date_of)
            self.table.begin("topic-id", 0)
            self.table.write([(k, v, encode_value(v)) for k, v in initial.items()])
            self.due = StoredDueDates(self.table.indexed_up_to)
        else:
            self.table = MemoryTable(dict(initial))
            self.due = HeapDueDates(self.table.items())

    def put(self, key: str, state: dict | None) -> None:
        self.table.write([(key, state, None if state is None else encode_value(state))])
        if state is not None:
            self.due.note(key, state)

    def pop(self, today: str) -> list[str]:
        return self.due.pop(today, self.table.get)


@pytest.fixture(params=["memory", "rocksdb"])
def kind(request) -> str:
    return request.param


def test_due_dates_on_disk_and_in_memory_take_the_same_items_in_date_order(kind, tmp_path):
    items = Items(
        kind,
        tmp_path,
        {
            "A|restriction:1": public("2024-03-10"),
            "B|restriction:2": public("2024-03-12"),
            "C|license:3": public(None),
            "D|restriction:4": public("2024-03-09", status="under_review"),
        },
    )
    assert items.pop("2024-03-08") == []
    assert items.pop("2024-03-10") == ["D|restriction:4", "A|restriction:1"]
    assert items.pop("2024-03-11") == []  # a check in flight is not sent again
    items.put("A|restriction:1", public("2024-03-10", status="expired"))  # its check applied
    items.put("D|restriction:4", public("2024-03-09", status="expired"))
    assert items.pop("2024-03-12") == ["B|restriction:2"]
    # Moved later, then earlier; withdrawn; removed.
    items.put("E|restriction:5", public("2024-04-20"))
    items.put("E|restriction:5", public("2024-04-02"))
    items.put("F|restriction:6", public("2024-04-01"))
    items.put("F|restriction:6", public("2024-04-01", status="withdrawn"))
    items.put("G|restriction:7", public("2024-04-01"))
    items.put("G|restriction:7", None)
    assert items.pop("2024-04-01") == []
    assert items.pop("2024-04-05") == ["E|restriction:5"]


def test_the_due_date_index_on_disk_follows_the_items_and_survives_a_clean_close(tmp_path):
    table = RocksTable(tmp_path / "items", due_date_of)
    table.begin("topic-id", 0)
    table.write([(k, v, encode_value(v)) for k, v in {
        "A|restriction:1": public("2024-03-10"),
        "B|restriction:2": public("2024-03-12"),
        "C|license:3": {"status": "public", "名称": "许可"},
    }.items()])  # fmt: skip
    moved = public("2024-05-01")
    table.write([("A|restriction:1", moved, encode_value(moved)), ("B|restriction:2", None, None)])
    table.close()
    again = RocksTable(tmp_path / "items", due_date_of)
    assert again.stale("topic-id", 0, 5) is None
    assert list(again.indexed_up_to("2024-12-31")) == [("2024-05-01", "A|restriction:1")]
    # The index entries are not table keys.
    assert sorted(again) == ["A|restriction:1", "C|license:3"] and len(again) == 2
    again.drop()


def test_a_store_written_without_the_index_is_restored_whole(tmp_path):
    old = RocksTable(tmp_path / "items")  # as before the due-date index
    old.begin("topic-id", 0)
    old.write([("A|restriction:1", public("2024-03-10"), encode_value(public("2024-03-10")))])
    old.close()
    again = RocksTable(tmp_path / "items", due_date_of)
    assert "without its ordered index" in again.stale("topic-id", 0, 1)
    again.drop()


def test_due_date_of_reads_only_items_with_an_expiry_date() -> None:
    assert due_date_of(encode_value(public("2024-03-10"))) == "2024-03-10"
    assert due_date_of(encode_value(public(None))) is None
    assert due_date_of(encode_value(public("2024-03-10", status="withdrawn"))) is None
