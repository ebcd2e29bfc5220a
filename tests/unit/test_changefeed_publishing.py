"""Which events of a change-feed batch are new: repeats are skipped, but a change back to
earlier content (A → B → A) is published, or the public view would keep B."""

from __future__ import annotations

from producers.changefeed.publishing import FeedStats, ItemHead, advance_heads, select_fresh
from tests.intake_factory import enterprise_codes, penalty

USCC = enterprise_codes(2)["uscc"]


def version(fine: str, sequence: int):
    return {**penalty(USCC, "宁环罚〔2024〕3号", fine_amount=fine), "source_sequence": sequence}


A1, B2, A3 = version("100", 1), version("200", 2), version("100", 3)
ITEM = "penalty|宁环罚〔2024〕3号"


def ids(events):
    return [(e["event_id"], e["source_sequence"]) for e in events]


def test_a_first_batch_is_published_whole_even_with_a_revert_inside():
    assert A1["event_id"] == A3["event_id"]  # content ids: the same content, the same id
    fresh, already = select_fresh([A1, B2, A3], set(), {})
    assert ids(fresh) == ids([A1, B2, A3]) and already == 0
    assert advance_heads({}, fresh) == {ITEM: ItemHead(3, A3["event_id"])}


def test_a_repeated_batch_publishes_nothing():
    published = {A1["event_id"], B2["event_id"]}
    fresh, already = select_fresh([A1, B2, A3, A3], published, {ITEM: ItemHead(3, A3["event_id"])})
    assert fresh == [] and already == 4


def test_a_change_back_to_earlier_content_is_published():
    published = {A1["event_id"], B2["event_id"]}
    fresh, already = select_fresh([A3], published, {ITEM: ItemHead(2, B2["event_id"])})
    assert ids(fresh) == ids([A3]) and already == 0


def test_a_snapshot_re_read_of_the_current_content_is_skipped():
    snapshot = version("100", 99)
    fresh, _ = select_fresh([snapshot], {A1["event_id"]}, {ITEM: ItemHead(3, A3["event_id"])})
    assert fresh == []


def test_an_item_published_by_another_adapter_is_already_published():
    fresh, already = select_fresh([A1], {A1["event_id"]}, {ITEM: None})
    assert fresh == [] and already == 1


def test_heads_never_move_back():
    heads = {ITEM: ItemHead(5, B2["event_id"])}
    assert advance_heads(heads, [A3]) == {}


def test_the_summary_names_every_count():
    stats = FeedStats(read=5, published=3, already_published=1, tombstones=1)
    stats.rejected_by_reason["invalid_code"] += 1
    assert stats.summary() == (
        "read 5; published 3; already published 1; rejected 1; tombstones skipped 1 "
        "(invalid_code: 1)"
    )


def test_a_snapshot_in_the_same_batch_as_the_create_is_skipped():
    snapshot = version("100", 99)
    fresh, already = select_fresh([A1, snapshot, A1], set(), {})
    assert ids(fresh) == ids([A1]) and already == 2
