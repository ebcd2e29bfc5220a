"""Bounds on one item's state (issue #13): past them a record is refused, replays converge."""

from __future__ import annotations

import datetime as dt

import pytest

from streams.errors import StateBoundExceeded
from streams.rules.items import MAX_CHANGES_PER_ITEM, MAX_SEEN_PER_ITEM, reduce_record
from tests.factories import make_enriched

TODAY = dt.date(2024, 6, 5)
NUMBER = "西市监罚〔2024〕12号"


def change(i: int) -> dict:
    return make_enriched(
        "penalty_change",
        n=1,
        source_sequence=i + 2,
        payload={
            "decision_number": NUMBER,
            "changing_authority": "西吉县市场监督管理局",
            "change_content": f"第 {i} 次变更",
            "changed_on": dt.date(2024, 5, 1) + dt.timedelta(days=i % 30),
        },
    )


def apply(records: list[dict], state: dict) -> list[str]:
    """Reduce the records in order into `state` (a table); the event ids refused."""
    refused = []
    for record in records:
        try:
            outcome = reduce_record(record, state.get, TODAY)
        except StateBoundExceeded:
            refused.append(record["event_id"])
            continue
        state.update(outcome.states)
    return refused


def test_changes_past_the_bound_are_refused_naming_the_record_the_item_and_the_bound() -> None:
    changes = [change(i) for i in range(MAX_CHANGES_PER_ITEM + 3)]
    state: dict = {}
    refused = apply(changes, state)
    assert refused == [c["event_id"] for c in changes[MAX_CHANGES_PER_ITEM:]]
    (item,) = state.values()
    assert len(item["changes"]) == len(item["seen"]) == MAX_CHANGES_PER_ITEM
    with pytest.raises(StateBoundExceeded) as caught:
        reduce_record(changes[-1], state.get, TODAY)
    reason = str(caught.value)
    assert changes[-1]["event_id"] in reason and NUMBER in reason
    assert f"{MAX_CHANGES_PER_ITEM} 条的上限" in reason and "|penalty:" in reason


def test_a_replay_of_the_same_records_converges_to_the_same_state() -> None:
    changes = [change(i) for i in range(MAX_CHANGES_PER_ITEM + 5)]
    once: dict = {}
    apply(changes, once)
    twice = {k: dict(v) for k, v in once.items()}
    # Applied changes are skipped by event id, refused ones refused again: nothing moves.
    assert apply(changes, twice) == [c["event_id"] for c in changes[MAX_CHANGES_PER_ITEM:]]
    assert twice == once


def test_workflow_events_are_bounded_by_the_seen_list() -> None:
    state: dict = {}
    assert MAX_SEEN_PER_ITEM > MAX_CHANGES_PER_ITEM
    objections = [
        make_enriched(
            "objection",
            n=1,
            payload={
                "target_category": "penalty",
                "target_record_key": NUMBER,
                "objection_status": "open",
                "filed_on": dt.date(2024, 5, 2),
            },
        )
        for _ in range(MAX_SEEN_PER_ITEM + 2)
    ]
    refused = apply(objections, state)
    assert len(refused) == 2
    assert len(next(iter(state.values()))["seen"]) == MAX_SEEN_PER_ITEM
