"""Licence and penalty changes: fields updated, history kept, any order gives one result."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from schemas.categories import category_spec
from streams.errors import ChangeError
from streams.rules.changes import (
    PendingChange,
    apply_change,
    change_history,
    change_target,
    merge_pending,
)

LICENSE = {
    "license_number": "宁食许〔2024〕0001",
    "license_name": "食品经营许可证",
    "valid_from": dt.date(2024, 1, 2),
    "valid_to": dt.date(2029, 1, 1),
    "licensing_authority": "西吉县市场监督管理局",
    "license_content": "预包装食品销售",
    "status": "有效",
}
PENALTY = {"decision_number": "西市监罚〔2024〕12号", "fine_amount": "5000.00"}


def license_change(item: str, after: str, on: dt.date, before: str | None = None) -> dict:
    return {
        "license_number": "宁食许〔2024〕0001",
        "change_item": item,
        "content_before": before,
        "content_after": after,
        "changed_on": on,
    }


def test_a_known_change_item_sets_the_licence_field() -> None:
    change = license_change("有效期至", "2030年6月30日", dt.date(2024, 5, 6), "2029-01-01")
    changed = apply_change(LICENSE, "license_change", change)
    assert changed == {**LICENSE, "valid_to": dt.date(2030, 6, 30)}
    assert LICENSE["valid_to"] == dt.date(2029, 1, 1)  # the original is not changed


@pytest.mark.parametrize(
    ("item", "after", "field", "value"),
    [
        (
            "许可内容",
            "预包装食品销售、散装食品销售",
            "license_content",
            "预包装食品销售、散装食品销售",
        ),
        ("状态", "注销", "status", "注销"),
        ("有效期至", "长期", "valid_to", None),
        ("valid_to", "20300101", "valid_to", dt.date(2030, 1, 1)),
    ],
)
def test_change_items_by_template_name(item, after, field, value) -> None:
    changed = apply_change(
        LICENSE, "license_change", license_change(item, after, dt.date(2024, 5, 6))
    )
    assert changed[field] == value


def test_an_unknown_change_item_is_noted_in_the_details() -> None:
    change = license_change("经营场所", "西吉县新区", dt.date(2024, 5, 6), "西吉县老城区")
    changed = apply_change(LICENSE, "license_change", change)
    assert changed == {**LICENSE, "details": "变更（2024-05-06）经营场所：西吉县老城区→西吉县新区"}


PENALTY_CHANGE_1 = {
    "decision_number": "西市监罚〔2024〕12号",
    "changing_authority": "西吉县市场监督管理局",
    "change_content": "罚款金额变更为3000元",
    "changed_on": dt.date(2024, 4, 1),
}
PENALTY_CHANGE_2 = {
    **PENALTY_CHANGE_1,
    "change_content": "罚款已缴清",
    "changed_on": dt.date(2024, 4, 20),
}


def test_penalty_changes_are_noted_in_the_remarks_in_date_order() -> None:
    changed = merge_pending(
        {**PENALTY, "remarks": "当场缴纳"},
        [
            PendingChange("v2", "penalty_change", PENALTY_CHANGE_2),
            PendingChange("v1", "penalty_change", PENALTY_CHANGE_1),
        ],
    )
    assert changed == {
        **PENALTY,
        "remarks": "当场缴纳；变更（2024-04-01，西吉县市场监督管理局）：罚款金额变更为3000元；"
        "变更（2024-04-20，西吉县市场监督管理局）：罚款已缴清",
    }


def test_a_change_delivered_twice_counts_once() -> None:
    twice = [
        PendingChange("v1", "penalty_change", PENALTY_CHANGE_1),
        PendingChange("v9", "penalty_change", dict(PENALTY_CHANGE_1)),
    ]
    assert merge_pending(PENALTY, twice) == apply_change(
        PENALTY, "penalty_change", PENALTY_CHANGE_1, "v1"
    )
    assert [e["version"] for e in change_history(twice)] == ["v1"]


def test_changes_held_before_the_original_give_the_same_result_in_any_order() -> None:
    pending = [
        PendingChange(
            "v1", "license_change", license_change("有效期至", "2030-01-01", dt.date(2024, 3, 1))
        ),
        PendingChange(
            "v2", "license_change", license_change("有效期至", "2031-01-01", dt.date(2024, 6, 1))
        ),
        PendingChange("v3", "license_change", license_change("状态", "暂停", dt.date(2024, 6, 1))),
        PendingChange(
            "v4", "license_change", license_change("经营场所", "新区", dt.date(2024, 2, 1))
        ),
    ]
    results = [merge_pending(LICENSE, list(order)) for order in itertools.permutations(pending)]
    assert all(result == results[0] for result in results)
    assert results[0]["valid_to"] == dt.date(2031, 1, 1)
    assert results[0]["status"] == "暂停"
    # The published payload has the licence's fields and no others (its Avro schema).
    assert set(results[0]) <= set(category_spec("license").field_names)


def test_history_lists_changes_in_the_order_they_apply() -> None:
    history = change_history(
        [
            PendingChange(
                "v2", "license_change", license_change("状态", "暂停", dt.date(2024, 6, 1))
            ),
            PendingChange(
                "v1", "license_change", license_change("状态", "注销", dt.date(2024, 6, 1))
            ),
            PendingChange(
                "v3", "license_change", license_change("有效期至", "长期", dt.date(2024, 1, 1))
            ),
        ]
    )
    assert [(e["field"], e["content_after"], e["version"]) for e in history] == [
        ("valid_to", None, "v3"),
        ("status", "注销", "v1"),
        ("status", "暂停", "v2"),
    ]


def test_pending_change_round_trips_through_json_safe_dict() -> None:
    change = PendingChange(
        "v1", "penalty_change", {"decision_number": "x", "changed_on": dt.date(2024, 4, 1)}
    )
    as_dict = change.to_dict()
    assert as_dict["change_payload"]["changed_on"] == "2024-04-01"
    assert PendingChange.from_dict(as_dict) == change


def test_change_target_names_the_original() -> None:
    assert change_target("license_change", {"license_number": " 宁食许〔2024〕0001 "}) == (
        "license",
        "宁食许〔2024〕0001",
    )
    assert change_target("penalty_change", PENALTY) == ("penalty", "西市监罚〔2024〕12号")


@pytest.mark.parametrize(
    ("original", "category", "change", "message"),
    [
        (LICENSE, "license", {}, "not a change category"),
        (LICENSE, "license_change", {"change_item": "状态"}, "license_number is missing"),
        (
            PENALTY,
            "license_change",
            license_change("状态", "注销", dt.date(2024, 5, 6)),
            "must match",
        ),
        (
            LICENSE,
            "license_change",
            license_change("有效期至", "明年", dt.date(2024, 5, 6)),
            "not a date",
        ),
        (
            LICENSE,
            "license_change",
            license_change("许可文件编号", "X-2", dt.date(2024, 5, 6)),
            "withdraw",
        ),
        (
            LICENSE,
            "license_change",
            {**license_change("状态", "注销", dt.date(2024, 5, 6)), "changed_on": None},
            "changed_on None is not a date",
        ),
    ],
)
def test_changes_that_cannot_apply_say_why(original, category, change, message) -> None:
    with pytest.raises(ChangeError, match=message):
        apply_change(original, category, change)
