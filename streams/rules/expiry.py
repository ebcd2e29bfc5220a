"""Items due for an expiry check, as a due-date heap per partition (plain functions, no Kafka).

Every 30 s the items stage used to look at every item of every partition it holds for one
whose publication period had ended: at a province's scale, millions of dicts per tick for a
handful due. Here each partition keeps a heap of (due date, item key), pushed whenever an
item's state is written and rebuilt from the table when the partition is restored. Entries
are never updated in place: a popped entry is checked against the item's current state (a
later due date, a withdrawal or an expiry already applied make it stale) and dropped when it
no longer holds, so the heap only ever needs pushes.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

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
