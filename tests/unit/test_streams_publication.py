"""Publication status: periods, repair, removal, objections and withdrawal, in their precedence."""

from __future__ import annotations

import datetime as dt

import pytest

from streams.errors import PublicationError
from streams.rules.publication import (
    WorkflowState,
    apply_workflow_event,
    next_expiry,
    publication_status,
)

TODAY = dt.date(2024, 6, 1)
RESTRICTION = {"restricted_from": dt.date(2023, 6, 1), "restricted_to": dt.date(2024, 5, 31)}


def objection(status: str, filed_on: dt.date = dt.date(2024, 5, 1)) -> dict:
    return {"objection_status": status, "filed_on": filed_on}


def test_restriction_is_public_through_its_last_day_then_expired() -> None:
    assert publication_status("restriction", RESTRICTION, dt.date(2024, 5, 31)) == "public"
    assert publication_status("restriction", RESTRICTION, TODAY) == "expired"
    assert next_expiry("restriction", RESTRICTION) == TODAY
    assert publication_status("restriction", {"restricted_to": None}, TODAY) == "public"
    assert next_expiry("restriction", {"restricted_to": None}) is None


def test_red_list_honour_expires_and_licences_do_not() -> None:
    assert publication_status("red_list", {"valid_to": dt.date(2024, 1, 1)}, TODAY) == "expired"
    assert publication_status("license", {"valid_to": dt.date(2024, 1, 1)}, TODAY) == "public"
    assert next_expiry("license", {"valid_to": dt.date(2024, 1, 1)}) is None


@pytest.mark.parametrize("action", ["removed", "移出"])
def test_abnormal_operation_removal(action) -> None:
    assert publication_status("abnormal_operation", {"list_action": action}, TODAY) == "removed"
    assert publication_status("abnormal_operation", {"list_action": "listed"}, TODAY) == "public"


def test_credit_repair_takes_a_restriction_out_early() -> None:
    state = apply_workflow_event(None, "credit_repair", {"repaired_on": dt.date(2024, 3, 1)})
    current = {**RESTRICTION, "restricted_to": dt.date(2025, 5, 31)}
    assert publication_status("restriction", current, TODAY, state) == "repaired"


def test_objection_open_then_decided() -> None:
    opened = apply_workflow_event(None, "objection", objection("处理中"))
    assert publication_status("penalty", {}, TODAY, opened) == "under_review"
    upheld = apply_workflow_event(opened, "objection", objection("成立"))
    assert publication_status("penalty", {}, TODAY, upheld) == "withdrawn"
    dismissed = apply_workflow_event(opened, "objection", objection("dismissed"))
    assert publication_status("penalty", {}, TODAY, dismissed) == "public"
    assert opened.objections == {"2024-05-01": "open"}  # earlier states are not changed


def test_a_late_open_does_not_reopen_a_decided_objection() -> None:
    dismissed = apply_workflow_event(None, "objection", objection("dismissed"))
    assert apply_workflow_event(dismissed, "objection", objection("open")) == dismissed


def test_withdraw_operation_wins_over_everything() -> None:
    state = apply_workflow_event(None, "objection", objection("open"))
    assert publication_status("restriction", RESTRICTION, TODAY, state, "withdraw") == "withdrawn"


def test_expired_wins_over_an_open_objection() -> None:
    state = apply_workflow_event(None, "objection", objection("open"))
    assert publication_status("restriction", RESTRICTION, TODAY, state) == "expired"


def test_workflow_state_round_trips_through_a_dict() -> None:
    state = apply_workflow_event(None, "objection", objection("open"))
    state = apply_workflow_event(state, "credit_repair", {"repaired_on": dt.date(2024, 3, 1)})
    state = apply_workflow_event(state, "credit_repair", {"repaired_on": dt.date(2024, 4, 1)})
    assert state.repaired_on == dt.date(2024, 3, 1)
    assert WorkflowState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    ("category", "payload", "message"),
    [
        ("objection", objection("maybe"), "objection_status .*'maybe'"),
        ("objection", {"objection_status": "open", "filed_on": "2024-05-01"}, "filed_on"),
        ("credit_repair", {"repaired_on": None}, "repaired_on"),
        ("penalty", {}, "not a workflow event"),
    ],
)
def test_unreadable_workflow_events_say_why(category, payload, message) -> None:
    with pytest.raises(PublicationError, match=message):
        apply_workflow_event(None, category, payload)
