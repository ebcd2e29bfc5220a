"""The ownership rule of streams/rules/items.py on plain dicts: only the owner changes an item."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from schemas.codec import encode_enriched
from streams.rules.items import item_key, reduce_record
from streams.rules.ownership import Reassignment, Reassignments
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.security

TODAY = dt.date(2024, 6, 10)
SW = {"code": "sw-640000", "name": "国家税务总局宁夏回族自治区税务局"}
SCJG = {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"}
NEW = {"code": "scjg-merged", "name": "合并后的市场监管部门"}


class Table(dict):
    """The items table of one partition, as the stage keeps it."""

    def apply(self, record: dict[str, Any], owners: Any = None) -> Any:
        out = reduce_record(record, self.get, TODAY, encode_enriched(record), owners=owners)
        self.update(out.states)
        return out


def penalty(**kw: Any) -> dict[str, Any]:
    return make_enriched("penalty", n=kw.pop("n", 7), payload={"fine_amount": Decimal("88888.00")},
                         **kw)  # fmt: skip


def published(out: Any) -> dict[str, Any]:
    [item] = [r for r in out.records if r["category"] == "penalty"]
    return item


def test_owner_recorded_on_the_state_and_the_published_item() -> None:
    table, original = Table(), penalty()
    out = table.apply(original)
    key = item_key(original["uscc"], "penalty", original["record_key"])
    assert table[key]["owner"] == SCJG
    assert published(out)["department"] == SCJG


@pytest.mark.parametrize("operation", ["upsert", "withdraw"])
def test_another_department_may_not_update_or_withdraw(operation: str) -> None:
    table, original = Table(), penalty()
    table.apply(original)
    before = dict(table)
    rewrite = newer(original, department=SW, operation=operation,
                    payload={"fine_amount": Decimal("1.00")})  # fmt: skip
    out = table.apply(rewrite)
    assert out.records == [] and out.states == {}
    assert table == before
    [refusal] = out.refused
    assert refusal.rejection.reason_code == "not_owner"
    assert refusal.rejection.field == "decision_number/行政处罚决定书文号"
    message = refusal.rejection.message
    for part in (original["record_key"], rewrite["event_id"], "scjg-640000",
                 "宁夏回族自治区市场监督管理厅", "sw-640000", "行政处罚"):  # fmt: skip
        assert part in message, message
    assert ("撤销" if operation == "withdraw" else "修改") in message


def test_the_owner_still_updates_and_withdraws() -> None:
    table, original = Table(), penalty()
    table.apply(original)
    update = newer(original, payload={"fine_amount": Decimal("99.00")})
    assert published(table.apply(update))["payload"]["fine_amount"] == Decimal("99.00")
    out = table.apply(newer(update, operation="withdraw"))
    assert not out.refused and published(out)["publication_status"] == "withdrawn"


def change(original: dict[str, Any], department: dict[str, str], n: int = 7, **kw: Any) -> Any:
    return make_enriched(
        "penalty_change", n=n, department=department,
        payload={"decision_number": original["payload"]["decision_number"],
                 "change_content": f"{department['code']} 的变更", **kw.pop("payload", {})},
        **kw,
    )  # fmt: skip


def test_a_change_from_another_department_is_refused() -> None:
    table, original = Table(), penalty()
    table.apply(original)
    before = dict(table)
    out = table.apply(change(original, SW))
    assert out.records == [] and table == before
    [refusal] = out.refused
    assert refusal.rejection.reason_code == "not_owner"
    assert "行政处罚变更" in refusal.rejection.message
    assert "无权变更" in refusal.rejection.message


def test_held_changes_settled_when_the_original_comes_either_order_same_state() -> None:
    original = penalty()
    foreign, own = (
        change(original, SW),
        change(original, SCJG, payload={"changed_on": dt.date(2024, 5, 2)}),
    )
    first = Table()
    held = first.apply(foreign)
    assert not held.refused and held.records == []  # held, not yet judged, not yet history
    first.apply(own)
    out = first.apply(original)
    [refusal] = out.refused
    assert refusal.record["event_id"] == foreign["event_id"]
    assert refusal.encoded == encode_enriched(foreign)
    assert "sw-640000" in refusal.rejection.message
    remarks = published(out)["payload"]["remarks"]
    assert "scjg-640000 的变更" in remarks and "sw-640000" not in remarks
    assert own in out.records  # the owner's held change reaches history now

    second = Table()
    second.apply(original)
    assert second.apply(foreign).refused
    second.apply(own)
    key = item_key(original["uscc"], "penalty", original["record_key"])

    # The published version depends on arrival order by design (it must exceed every
    # input's); the item itself does not.
    def item(state: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in state.items() if k != "version"}

    assert item(first[key]) == item(second[key])


def test_objections_are_not_owner_restricted() -> None:
    table, original = Table(), penalty()
    table.apply(original)
    objection = make_enriched(
        "objection", n=7, department={"code": "xyzx-640000", "name": "信用中心"},
        payload={"target_record_key": original["record_key"]},
    )  # fmt: skip
    out = table.apply(objection)
    assert not out.refused
    assert published(out)["publication_status"] == "under_review"


def test_reassignment_lets_the_successor_change_and_take_over() -> None:
    table, original = Table(), penalty()
    table.apply(original)
    at = original["emitted_at"] + dt.timedelta(days=1)
    owners = Reassignments(
        [Reassignment("scjg-640000", NEW["code"], None, "机构合并", at, "r1", NEW["name"])]
    )
    early = newer(original, department=NEW, payload={"fine_amount": Decimal("2.00")})
    assert table.apply(early, owners).refused, "before the reassignment's time: not yet"
    late = newer(original, department=NEW, emitted_at=at + dt.timedelta(hours=1),
                 payload={"fine_amount": Decimal("3.00")})  # fmt: skip
    out = table.apply(late, owners)
    assert not out.refused
    item = published(out)
    assert item["payload"]["fine_amount"] == Decimal("3.00") and item["department"] == NEW
    stale = newer(late, department=SCJG, emitted_at=at + dt.timedelta(hours=2))
    assert table.apply(stale, owners).refused, "the merged department no longer owns it"


def test_reassignment_of_one_category_only() -> None:
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    owners = Reassignments([Reassignment("a", "b", "license", "合并", at, "r1")])
    later = at + dt.timedelta(days=1)
    assert owners.successor("a", "license", later) == "b"
    assert owners.successor("a", "penalty", later) == "a"
    chained = Reassignments(
        [Reassignment("a", "b", None, "x", at, "r1"), Reassignment("b", "a", None, "y", at, "r2")]
    )
    assert chained.successor("a", "penalty", later) in ("a", "b")  # a cycle ends


def test_reassignment_round_trips_as_json() -> None:
    entry = Reassignment.new("scjg-640000", "scjg-merged", "机构合并", category="penalty")
    assert Reassignment.from_json(entry.to_json()) == entry
    with pytest.raises(ValueError):
        Reassignment.new("a", "a", "x")
    with pytest.raises(ValueError):
        Reassignment.new("a", "b", " ")
