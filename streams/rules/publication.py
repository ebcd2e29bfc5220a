"""Where an item stands in the public view (DOMAIN.md "Publication periods", "Objections").

A restriction is public from 限制期限自 to 限制期限至 and leaves the view when the period ends
or the enterprise completes credit repair (信用修复); an abnormal-operations listing stays until
a removal record; an open objection (异议) marks an item as under review; an upheld objection
or a withdrawal takes it out. Items leaving the view stay in history (ClickHouse).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.categories import Operation
from schemas.records import PublicationStatus
from streams.errors import PublicationError

ObjectionStatus = Literal["open", "upheld", "dismissed"]

# Departments write the status in their own words; these are the ones the templates use.
_OBJECTION_STATUSES: dict[str, ObjectionStatus] = {
    "open": "open",
    "处理中": "open",
    "受理": "open",
    "已受理": "open",
    "审核中": "open",
    "upheld": "upheld",
    "成立": "upheld",
    "异议成立": "upheld",
    "dismissed": "dismissed",
    "不成立": "dismissed",
    "异议不成立": "dismissed",
    "驳回": "dismissed",
}
_REMOVED_ACTIONS = frozenset({"removed", "移出"})
# Categories with an end date after which the item leaves the public view, and its field.
# A red-list honour ends with its 有效期至 like a restriction with its 限制期限至; a licence
# past 有效期至 stays public — the grant is a fact, its validity is shown with it.
_END_DATE_FIELDS = {"restriction": "restricted_to", "red_list": "valid_to"}


@dataclass(slots=True)
class WorkflowState:
    """Workflow events that act on one item: objections by filing date, and credit repair."""

    objections: dict[str, ObjectionStatus] = field(default_factory=dict)  # filed_on ISO → status
    repaired_on: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for a stage table."""
        return {
            "objections": dict(self.objections),
            "repaired_on": self.repaired_on.isoformat() if self.repaired_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowState:
        repaired = data.get("repaired_on")
        return cls(
            objections=dict(data.get("objections") or {}),
            repaired_on=dt.date.fromisoformat(repaired) if repaired else None,
        )


def objection_status(value: Any) -> ObjectionStatus:
    """The objection status a department's wording means."""
    status = _OBJECTION_STATUSES.get(str(value).strip()) if value is not None else None
    if status is None:
        raise PublicationError(
            f"objection_status (异议状态) {value!r} is not known; expected open/upheld/dismissed "
            "(处理中/成立/不成立)"
        )
    return status


def apply_workflow_event(
    state: WorkflowState | None, category: str, payload: Mapping[str, Any]
) -> WorkflowState:
    """The item's workflow state after an objection or credit-repair event (a new object).

    A decided objection (upheld, dismissed) is final: a late "open" for the same filing does
    not reopen it, whatever order the events arrive in. Repair keeps its earliest date.
    """
    state = WorkflowState.from_dict(state.to_dict()) if state else WorkflowState()
    if category == "objection":
        filed_on = payload.get("filed_on")
        if not isinstance(filed_on, dt.date):
            raise PublicationError(f"objection: filed_on (异议日期) {filed_on!r} is not a date")
        key = filed_on.isoformat()
        status = objection_status(payload.get("objection_status"))
        if state.objections.get(key) in (None, "open"):
            state.objections[key] = status
    elif category == "credit_repair":
        repaired_on = payload.get("repaired_on")
        if not isinstance(repaired_on, dt.date):
            raise PublicationError(
                f"credit_repair: repaired_on (修复日期) {repaired_on!r} is not a date"
            )
        if state.repaired_on is None or repaired_on < state.repaired_on:
            state.repaired_on = repaired_on
    else:
        raise PublicationError(f"category {category!r} is not a workflow event for an item")
    return state


def _end_date(category: str, payload: Mapping[str, Any]) -> dt.date | None:
    value = payload.get(_END_DATE_FIELDS.get(category, ""))
    return value if isinstance(value, dt.date) else None


def publication_status(
    category: str,
    payload: Mapping[str, Any],
    today: dt.date,
    workflow_state: WorkflowState | None = None,
    operation: Operation = "upsert",
) -> PublicationStatus:
    """The item's status today. First that applies: withdrawn (withdraw operation or an
    upheld objection), repaired, removed (abnormal-operations removal), expired (end date
    before today), under review (an open objection), else public.

    A restriction whose 限制期限自 is still ahead is public already: the decision is made and
    departments check it before granting licences.
    """
    state = workflow_state or WorkflowState()
    objections = set(state.objections.values())
    if operation == "withdraw" or "upheld" in objections:
        return "withdrawn"
    if state.repaired_on is not None:
        return "repaired"
    if category == "abnormal_operation" and str(payload.get("list_action", "")).strip() in (
        _REMOVED_ACTIONS
    ):
        return "removed"
    end = _end_date(category, payload)
    if end is not None and end < today:
        return "expired"
    if "open" in objections:
        return "under_review"
    return "public"


def next_expiry(category: str, payload: Mapping[str, Any]) -> dt.date | None:
    """The first day the item is expired (the day after its end date), for a timer to
    re-evaluate it; None when it has no end date."""
    end = _end_date(category, payload)
    return end + dt.timedelta(days=1) if end is not None else None
