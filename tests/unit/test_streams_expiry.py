"""The items stage's due-date heap (streams/rules/expiry.py): who is checked, and when."""

from __future__ import annotations

from streams.rules.expiry import build_heap, note_state, pop_due


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
