"""The category sets of schemas/categories.py and the one organisation-code mismatch check."""

from __future__ import annotations

import datetime as dt

from schemas.categories import (
    CATEGORIES,
    CHANGE_CATEGORIES,
    CHANGE_TARGETS,
    ITEM_AND_CHANGE_CATEGORIES,
    ITEM_CATEGORIES,
    ITEM_WORKFLOW_CATEGORIES,
    WORKFLOW_CATEGORIES,
)
from schemas.identifiers import make_uscc, parse_uscc
from schemas.records import IntakeEvent
from streams.rules.registry import apply_registration, organisation_code_mismatch
from streams.rules.resolution import Resolved, resolve_subject

USCC = make_uscc("9", "1", "640422", "MA76Y5XX")
OTHER_USCC = make_uscc("9", "1", "640422", "MA76Y6AB")


def test_registration_items_changes_and_workflow_partition_the_categories() -> None:
    groups = [("registration",), ITEM_CATEGORIES, CHANGE_CATEGORIES, WORKFLOW_CATEGORIES]
    assert sorted(c for group in groups for c in group) == sorted(CATEGORIES)
    assert ITEM_CATEGORIES == (
        "license", "penalty", "inspection", "restriction", "abnormal_operation", "red_list",
        "chattel_mortgage", "equity_pledge", "judicial_assistance", "small_business_support",
        "tax_credit_rating",
    )  # fmt: skip
    assert CHANGE_CATEGORIES == ("license_change", "penalty_change")
    assert WORKFLOW_CATEGORIES == ("objection", "credit_repair", "notice_feedback")


def test_changes_target_items_and_item_workflow_is_workflow() -> None:
    assert set(CHANGE_TARGETS) == set(CHANGE_CATEGORIES)
    assert set(CHANGE_TARGETS.values()) <= set(ITEM_CATEGORIES)
    assert set(ITEM_WORKFLOW_CATEGORIES) < set(WORKFLOW_CATEGORIES)


def test_profile_sections_are_items_and_changes_in_category_order() -> None:
    assert ITEM_AND_CHANGE_CATEGORIES == (
        "license", "license_change", "penalty", "penalty_change", "inspection",
        "restriction", "abnormal_operation", "red_list", "chattel_mortgage", "equity_pledge",
        "judicial_assistance", "small_business_support", "tax_credit_rating",
    )  # fmt: skip


def test_organisation_code_embedded_in_the_uscc_is_no_conflict() -> None:
    uscc = parse_uscc(USCC)
    assert organisation_code_mismatch(uscc, None) is None
    assert organisation_code_mismatch(uscc, USCC[8:17]) is None


def test_organisation_code_of_another_uscc_is_a_mismatch_naming_both() -> None:
    conflict = organisation_code_mismatch(parse_uscc(USCC), OTHER_USCC[8:17])
    assert conflict is not None
    assert conflict.to_dict() == {
        "reason": "organisation_code_mismatch",
        "uscc": USCC,
        "kind": "organisation_code",
        "code": OTHER_USCC[8:17],
        "other_uscc": None,
        "detail": f"the USCC embeds organisation code {USCC[8:17]}",
    }


def test_registry_and_resolution_report_the_same_mismatch() -> None:
    sent = OTHER_USCC[8:17]
    expected = organisation_code_mismatch(parse_uscc(USCC), sent)
    event = IntakeEvent(
        event_id="00000000-0000-0000-0000-000000000001",
        category="registration",
        operation="upsert",
        department={"code": "scjg-640422", "name": "西吉县市场监督管理局"},
        record_key=USCC,
        subject={"uscc": None, "registration_number": None, "organisation_code": None,
                 "name": "西吉县丰源农业有限公司"},
        occurred_at=dt.date(2024, 3, 1),
        emitted_at=dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC),
        source_sequence=1,
        adapter="spreadsheet/1",
        payload={"uscc": USCC, "name": "西吉县丰源农业有限公司", "organisation_code": sent},
    )  # fmt: skip
    _, conflicts = apply_registration(None, event)
    resolved = resolve_subject(
        {"uscc": USCC, "organisation_code": sent}, lambda k, c: None  # type: ignore[typeddict-item]
    )
    assert isinstance(resolved, Resolved)
    assert conflicts == [expected]
    assert list(resolved.conflicts) == [expected]
