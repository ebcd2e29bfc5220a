"""Issue #17 public periods: `public_until` per category, the timer, and the history reason."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.errors import CreditSyncError
from sinks.publicity.profile import history_item, public_item
from streams.rules.items import reduce_expiry_check, reduce_record
from streams.rules.publication import (
    DEFAULT_PERIODS,
    PERIOD_DEFAULTS,
    WorkflowState,
    add_months,
    end_of_publication,
    next_expiry,
    periods_from_env,
    public_until,
    publication_status,
)
from tests.factories import make_enriched

D = dt.date


def test_every_default_names_its_source() -> None:
    for name, default in PERIOD_DEFAULTS.items():
        assert default.source, name
        # No seed fixes a duration: each one says it is the project's choice until confirmed.
        if default.months is not None:
            assert "pending confirmation" in default.source, name
    assert DEFAULT_PERIODS.of("penalty") == 36
    assert DEFAULT_PERIODS.of("abnormal_operation") is None


def test_a_penalty_is_public_for_3_years_from_its_decision() -> None:
    payload = {"decided_on": D(2023, 5, 10), "penalty_kind": "罚款"}
    assert public_until("penalty", payload, DEFAULT_PERIODS) == D(2026, 5, 9)
    assert publication_status("penalty", payload, D(2026, 5, 9), periods=DEFAULT_PERIODS) == (
        "public"
    )
    assert publication_status("penalty", payload, D(2026, 5, 10), periods=DEFAULT_PERIODS) == (
        "expired"
    )
    assert next_expiry("penalty", payload, DEFAULT_PERIODS) == D(2026, 5, 10)


def test_a_warning_only_penalty_has_the_short_period() -> None:
    payload = {"decided_on": D(2024, 2, 29), "penalty_kind": "警告、通报批评"}
    assert public_until("penalty", payload, DEFAULT_PERIODS) == D(2025, 2, 27)
    mixed = {"decided_on": D(2024, 2, 29), "penalty_kind": "警告、罚款"}
    assert public_until("penalty", mixed, DEFAULT_PERIODS) == D(2027, 2, 27)


def test_a_restriction_keeps_its_own_end_and_a_serious_list_entry_without_one_gets_5_years() -> (
    None
):
    own = {"restricted_from": D(2024, 1, 1), "restricted_to": D(2024, 12, 31),
           "information_type": "严重违法失信企业名单"}  # fmt: skip
    assert public_until("restriction", own, DEFAULT_PERIODS) == D(2024, 12, 31)
    open_ended = {"restricted_from": D(2024, 1, 1), "information_type": "严重违法失信企业名单"}
    assert public_until("restriction", open_ended, DEFAULT_PERIODS) == D(2028, 12, 31)
    other = {"restricted_from": D(2024, 1, 1), "information_type": "失信被执行人"}
    assert public_until("restriction", other, DEFAULT_PERIODS) is None


@pytest.mark.parametrize(
    ("category", "payload"),
    [
        ("abnormal_operation", {"decided_on": D(2010, 1, 1), "list_action": "listed"}),
        ("license", {"decided_on": D(2001, 1, 1), "valid_to": D(2002, 1, 1)}),
        ("inspection", {"inspected_on": D(2001, 1, 1)}),
    ],
)
def test_categories_without_a_period_stay_until_an_event(category, payload) -> None:
    assert public_until(category, payload, DEFAULT_PERIODS) is None
    assert publication_status(category, payload, D(2030, 1, 1), periods=DEFAULT_PERIODS) == (
        "public"
    )


def test_red_list_ends_with_its_validity() -> None:
    payload = {"awarded_on": D(2023, 1, 1), "valid_to": D(2024, 6, 30)}
    assert public_until("red_list", payload, DEFAULT_PERIODS) == D(2024, 6, 30)


def test_periods_are_configurable_from_the_environment() -> None:
    periods = periods_from_env({"CREDITSYNC_PUBLIC_PERIOD_PENALTY": "12",
                                "CREDITSYNC_PUBLIC_PERIOD_INSPECTION": "24"})  # fmt: skip
    assert public_until("penalty", {"decided_on": D(2024, 1, 15)}, periods) == D(2025, 1, 14)
    assert public_until("inspection", {"inspected_on": D(2024, 1, 15)}, periods) == D(
        2026, 1, 14
    )
    none = periods_from_env({"CREDITSYNC_PUBLIC_PERIOD_PENALTY": "none"})
    assert public_until("penalty", {"decided_on": D(2000, 1, 1)}, none) is None
    with pytest.raises(CreditSyncError, match="CREDITSYNC_PUBLIC_PERIOD_PENALTY='3y'"):
        periods_from_env({"CREDITSYNC_PUBLIC_PERIOD_PENALTY": "3y"})


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2024, 12, 15), 1) == D(2025, 1, 15)


def test_end_reasons_are_dated() -> None:
    removal = {"list_action": "移出", "reason": "已补报年度报告", "decided_on": D(2025, 3, 3)}
    assert end_of_publication("removed", "abnormal_operation", removal) == (
        D(2025, 3, 3), "移出经营异常名录：已补报年度报告",
    )  # fmt: skip
    assert end_of_publication(
        "repaired", "penalty", {}, WorkflowState(repaired_on=D(2025, 1, 2))
    ) == (D(2025, 1, 2), "信用修复，提前停止公示")
    upheld = WorkflowState(objections={"2025-02-01": "upheld"})
    assert end_of_publication("withdrawn", "penalty", {}, upheld) == (
        D(2025, 2, 1), "异议成立，撤销公示",
    )  # fmt: skip
    assert end_of_publication("withdrawn", "penalty", {}, None, D(2025, 4, 1)) == (
        D(2025, 4, 1), "决定机关撤销",
    )  # fmt: skip
    restriction = {"restricted_from": D(2024, 1, 1), "restricted_to": D(2024, 12, 31)}
    assert end_of_publication("expired", "restriction", restriction) == (
        D(2024, 12, 31), "限制期限届满",
    )  # fmt: skip
    assert end_of_publication("public", "penalty", {}) == (None, None)


def test_an_expired_penalty_leaves_the_profile_for_its_history_on_the_timer() -> None:
    record = make_enriched("penalty", payload={"decided_on": D(2023, 5, 10),
                                               "penalty_kind": "罚款"})  # fmt: skip
    states: dict = {}
    out = reduce_record(record, states.get, D(2024, 1, 1))
    states.update(out.states)
    (key,) = out.states
    assert out.records[-1]["publication_status"] == "public"
    assert public_item(out.records[-1]) is not None
    assert states[key]["expires_on"] == "2026-05-10"
    assert reduce_expiry_check(key, states[key], D(2026, 5, 9)).records == []
    expired = reduce_expiry_check(key, states[key], D(2026, 5, 10)).records[-1]
    assert expired["publication_status"] == "expired"
    assert public_item(expired) is None
    entry = history_item(expired)
    assert entry is not None
    assert entry["ended_on"] == D(2026, 5, 9)
    assert entry["end_reason"] == "公示期满（36 个月）"
    assert entry["title"]["decision_number"] == record["payload"]["decision_number"]
    assert "fine_amount" not in entry  # the content is not public any more
