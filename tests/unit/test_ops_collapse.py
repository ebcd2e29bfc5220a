"""The publicity replay's collapse (creditsync/ops/collapse.py): newest version per item, the
older ones dropped only when they leave nothing the newest does not."""

from __future__ import annotations

from creditsync.ops.collapse import newest_per_item
from creditsync.ops.kafka_read import PartitionRange
from creditsync.ops.replay_progress import OffsetProgress, rate_and_eta
from tests.factories import make_enriched, newer


def test_older_versions_of_an_item_are_dropped_and_order_is_kept() -> None:
    licence = make_enriched("license", n=701)
    penalty = make_enriched("penalty", n=701)
    v2 = newer(licence, payload={"license_content": "预包装食品销售"})
    v3 = newer(v2, publication_status="expired")
    # The enterprise's first record (penalty) is kept whatever: it fills the identity.
    out = newest_per_item([penalty, licence, v3, v2])  # v2 arrives after v3
    assert [r["event_id"] for r in out.kept] == [penalty["event_id"], v3["event_id"]]
    assert out.dropped == 2


def test_a_version_repeated_in_the_range_is_written_once() -> None:
    registration = make_enriched("registration", n=702)
    out = newest_per_item([registration, dict(registration), dict(registration)])
    assert len(out.kept) == 1 and out.dropped == 2


def test_an_older_version_with_another_name_or_region_is_kept() -> None:
    registration = make_enriched("registration", n=703)
    renamed = newer(registration, payload={"name": "宁夏新名称商贸有限公司"})
    restriction = make_enriched("restriction", n=703)
    moved = newer(restriction, region={**restriction["region"], "code": "640402"})
    out = newest_per_item([registration, renamed, restriction, moved])
    # The old name must stay findable as a former name; the old region's list entry stays.
    assert len(out.kept) == 4 and out.dropped == 0


def test_a_kept_older_version_keeps_the_newer_one_it_met_in_order() -> None:
    restriction = make_enriched("restriction", n=705)
    moved = newer(restriction, region={**restriction["region"], "code": "640402"})
    again = newer(moved, processed_at=moved["processed_at"])
    # Without the first `moved` the older version would be applied, and list the enterprise
    # in its old region; a repeat of the newest after it is dropped.
    out = newest_per_item([moved, restriction, dict(moved)])
    assert [r["event_id"] for r in out.kept] == [moved["event_id"], restriction["event_id"]]
    out = newest_per_item([moved, restriction, again])
    assert out.dropped == 0


def test_an_ended_version_is_kept_when_the_newest_is_public() -> None:
    restriction = make_enriched("restriction", n=706)
    expired = newer(restriction, publication_status="expired")
    extended = newer(expired, publication_status="public")
    licence = make_enriched("license", n=706)  # the enterprise's first record: kept
    out = newest_per_item([licence, restriction, expired, extended])
    assert [r["event_id"] for r in out.kept] == [
        licence["event_id"],
        expired["event_id"],
        extended["event_id"],
    ]


def test_workflow_and_refused_records_pass_through_for_the_sink_to_count() -> None:
    change = make_enriched("penalty", n=704)
    change["category"] = "objection"
    raw_id = make_enriched("restriction", n=704, payload={"id_document_number": "x"})
    out = newest_per_item([change, dict(change), raw_id, dict(raw_id)])
    assert out.dropped == 0


def test_progress_is_measured_in_offsets_and_reaches_the_total_despite_gaps() -> None:
    class Msg:
        def __init__(self, partition: int, offset: int) -> None:
            self.p, self.o = partition, offset

        def topic(self) -> str:
            return "credit.records"

        def partition(self) -> int:
            return self.p

        def offset(self) -> int:
            return self.o

    progress = OffsetProgress()
    progress.begin(
        [PartitionRange("credit.records", 0, 10, 20), PartitionRange("credit.records", 1, 0, 5)]
    )
    assert (progress.done, progress.total) == (0, 15)
    progress.advance([Msg(0, 10), Msg(0, 14), Msg(1, 2)])
    assert progress.done == 5 + 3
    progress.advance([Msg(0, 18)])  # offset 19 is a transaction marker: never delivered
    assert progress.done == 9 + 3
    progress.finish()
    assert progress.as_dict()["done"] == progress.as_dict()["total"] == 15


def test_rate_and_eta() -> None:
    assert rate_and_eta(0, 100, 5.0) == (0.0, None)
    assert rate_and_eta(50, 150, 2.0) == (25.0, 4.0)
    assert rate_and_eta(150, 150, 3.0) == (50.0, 0.0)
