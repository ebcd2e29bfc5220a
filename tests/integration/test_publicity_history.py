"""Issue #17: an item that leaves the public view shows in the profile's history, with its
date and reason, against a real redis-server."""

from __future__ import annotations

import datetime as dt

import pytest

from sinks.publicity import PublicityIndex, PublicityReader
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration


def test_a_removal_from_the_abnormal_operations_list_shows_in_history(redis_client) -> None:
    index = PublicityIndex(redis_client)
    index.setup()
    reader = PublicityReader(redis_client)
    listed = make_enriched(
        "abnormal_operation",
        payload={"list_action": "listed", "reason": "未按规定报送年度报告",
                 "decided_on": dt.date(2024, 7, 1)},
    )  # fmt: skip
    assert index.write_batch([listed]).applied == 1
    profile = reader.profile(listed["uscc"])
    assert profile["items"]["abnormal_operation"][0]["record_key"] == listed["record_key"]
    assert profile["history"] == []
    assert "abnormal_operation" in profile["lists"]

    removed = newer(
        listed,
        payload={"list_action": "移出", "reason": "已补报年度报告",
                 "decided_on": dt.date(2025, 3, 3)},
        publication_status="removed",
        ended_on=dt.date(2025, 3, 3),
        end_reason="移出经营异常名录：已补报年度报告",
    )  # fmt: skip
    # A replay of the older listing after the removal changes nothing (versioned).
    assert index.write_batch([removed, listed]).applied == 1
    profile = reader.profile(listed["uscc"])
    assert "abnormal_operation" not in profile["items"]
    assert "abnormal_operation" not in profile["lists"]
    (entry,) = profile["history"]
    assert entry["record_key"] == listed["record_key"]
    assert entry["status"] == "removed"
    assert entry["ended_on"] == "2025-03-03"
    assert entry["end_reason"] == "移出经营异常名录：已补报年度报告"
    assert "reason" not in entry  # the listing's content is not public any more


def test_an_item_public_again_on_a_later_page_is_not_in_history(redis_client) -> None:
    index = PublicityIndex(redis_client)
    index.setup()
    reader = PublicityReader(redis_client)
    restriction = make_enriched(
        "restriction",
        n=1717,
        occurred_at=dt.date(2024, 1, 2),
        payload={"restricted_from": dt.date(2024, 1, 2), "restricted_to": dt.date(2024, 6, 30)},
    )  # fmt: skip
    expired = newer(restriction, publication_status="expired", ended_on=dt.date(2024, 7, 1),
                    end_reason="限制期满")  # fmt: skip
    extended = newer(expired, publication_status="public",
                     payload={"restricted_to": dt.date(2030, 6, 30)})  # fmt: skip
    assert index.write_batch([restriction]).applied == 1
    assert index.write_batch([expired]).applied == 1
    assert reader.profile(restriction["uscc"])["history"]  # it did end once
    # Extended again; a newer restriction of the same enterprise pushes it to page 2.
    other = make_enriched(
        "restriction",
        n=1717,
        occurred_at=dt.date(2025, 1, 2),
        payload={"information_type": "拖欠农民工工资", "restricted_from": dt.date(2025, 1, 2),
                 "restricted_to": dt.date(2030, 12, 31)},
    )  # fmt: skip
    assert index.write_batch([extended, other]).applied == 2
    first_page = reader.profile(restriction["uscc"], page_size=1)
    assert [i["record_key"] for i in first_page["items"]["restriction"]] == [other["record_key"]]
    assert first_page["item_counts"]["restriction"] == 2
    assert first_page["history"] == []  # public again: not "ended", whatever the page
