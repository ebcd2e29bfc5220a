"""Items due for an expiry check, as a due-date heap per partition (plain functions, no Kafka).

Every 30 s the items stage used to look at every item of every partition it holds for one
whose publication period had ended: at a province's scale, millions of dicts per tick for a
handful due. Here each partition keeps a heap of (due date, item key), pushed whenever an
item's state is written and rebuilt from the table when the partition is restored. Entries
are never updated in place: a popped entry is checked against the item's current state (a
later due date, a withdrawal or an expiry already applied make it stale) and dropped when it
no longer holds, so the heap only ever needs pushes.

On disk (issue #18) the heap would still be built by decoding every item at each start, and
held in memory: at a province's scale seconds and hundreds of MB. A RocksDB items table keeps
instead an ordered index of due dates in its own database (`due_date_of`, the table's indexer
in streams/runtime/state_store.py), written in the same batches as the items, and
`StoredDueDates` reads it from the start up to today.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import orjson

# Only a restriction still shown to the public can leave it on its due date.
EXPIRING_STATUSES = ("public", "under_review")

DueHeap = list[tuple[str, str]]  # (expires_on as an ISO date, item key)


def due_date(state: dict[str, Any] | None) -> str | None:
    """The ISO date the item's publication period ends, when it is public until then."""
    if not state:
        return None
    expires_on = state.get("expires_on")
    if expires_on and state.get("status") in EXPIRING_STATUSES:
        return str(expires_on)
    return None


# How an item's changelog bytes (compact JSON) start its expiry date when it has one.
_DUE_MARK = b'"expires_on":"'


def due_date_of(body: bytes) -> str | None:
    """`due_date` of an item from its changelog bytes: the items table's index on disk. Few
    items have an expiry date at all, so the others are not decoded."""
    if _DUE_MARK not in body:
        return None
    return due_date(orjson.loads(body))


def build_heap(items: Iterable[tuple[str, dict[str, Any]]]) -> DueHeap:
    """The heap of a partition's items table (its restore), in O(n)."""
    heap = [(due, key) for key, state in items if (due := due_date(state)) is not None]
    heapq.heapify(heap)
    return heap


def note_state(heap: DueHeap, key: str, state: dict[str, Any]) -> None:
    """An item's state was written: its due date joins the heap (an older entry for the same
    item goes stale and is dropped when popped)."""
    due = due_date(state)
    if due is not None:
        heapq.heappush(heap, (due, key))


def pop_due(
    heap: DueHeap, today: str, current: Callable[[str], dict[str, Any] | None]
) -> list[str]:
    """The keys of items due on or before `today` (ISO date) by their current state, each
    once, in due-date order; their entries leave the heap (the check's own state write
    pushes the item again if it is still due)."""
    keys: list[str] = []
    taken: set[str] = set()
    while heap and heap[0][0] <= today:
        _, key = heapq.heappop(heap)
        if key in taken:
            continue
        due = due_date(current(key))
        if due is not None and due <= today:
            keys.append(key)
            taken.add(key)
    return keys


Current = Callable[[str], dict[str, Any] | None]


class DueDates(Protocol):
    """A partition's items due for an expiry check, as the items stage uses them."""

    def note(self, key: str, state: dict[str, Any]) -> None: ...

    def pop(self, today: str, current: Current) -> list[str]: ...


class HeapDueDates:
    """In memory: the heap, built from the items table (`pop_due`, `note_state`)."""

    def __init__(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        self.heap = build_heap(items)

    def note(self, key: str, state: dict[str, Any]) -> None:
        note_state(self.heap, key, state)

    def pop(self, today: str, current: Current) -> list[str]:
        return pop_due(self.heap, today, current)


class StoredDueDates:
    """On disk: the items table's own due-date index, read up to today at each check. In
    memory only the items whose check was sent and whose state has not been written since,
    so that a check in flight is not sent again at every tick (as a popped heap entry)."""

    def __init__(self, indexed_up_to: Callable[[str], Iterator[tuple[str, str]]]) -> None:
        self.indexed_up_to = indexed_up_to
        self.sent: dict[str, str] = {}

    def note(self, key: str, state: dict[str, Any]) -> None:
        self.sent.pop(key, None)

    def pop(self, today: str, current: Current) -> list[str]:
        keys: list[str] = []
        for indexed, key in self.indexed_up_to(today):
            if self.sent.get(key) == indexed:
                continue
            due = due_date(current(key))
            if due is not None and due <= today:
                keys.append(key)
                self.sent[key] = indexed
        return keys
