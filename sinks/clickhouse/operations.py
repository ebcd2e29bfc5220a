"""Rows of the operational tables: control totals, rejections, parked records, notices.

These are not `EnrichedRecord`s: the stream stages report them from credit.control-totals,
credit.rejected, credit.parked and credit.notices.<department>. Each row shape is a
TypedDict; the mapping checks what it needs and names the row and field when it is wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from schemas.personal_ids import mask_resident_ids
from sinks.errors import RecordMappingError

CONTROL_TOTALS_TABLE = "control_totals"
REJECTIONS_TABLE = "rejections"
PARKED_TABLE = "parked"
NOTICES_TABLE = "notices"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ControlTotalRow(TypedDict):
    """A department's own count of what it sent on a day (对账: declared vs received)."""

    department_code: str
    day: dt.date
    category: str
    declared: int
    batch_id: str  # the file, request or export the count belongs to
    reported_at: dt.datetime
    # Optional (migration 4): whether `declared` is the department's own count, its name,
    # and what the adapter counted (received) and found already published (duplicates).
    has_declared: NotRequired[bool]
    department_name: NotRequired[str]
    received: NotRequired[int]
    duplicates: NotRequired[int]


class RejectionRow(TypedDict):
    """A record refused at validation or by a sink, with its reason code (DESIGN.md)."""

    rejection_id: str  # e.g. "<topic>:<partition>:<offset>" of the dead letter
    event_id: str | None
    department_code: str
    category: str
    reason_code: str  # e.g. "invalid_code", "missing_field", "not_allowed"
    reason: str
    field: str | None
    emitted_at: dt.datetime  # when the department sent it: the day it counts as received
    rejected_at: dt.datetime
    # Optional (migration 4): the record refused, for the department's own view.
    stage: NotRequired[str]
    record_ref: NotRequired[str]  # "row 12 (序号 11)", "record 3"
    record_key: NotRequired[str]
    value: NotRequired[str]
    fields_json: NotRequired[str]  # fields by template header, personal numbers blanked


class ParkedRow(TypedDict):
    """A record waiting for its enterprise's registration (no USCC known yet)."""

    event_id: str
    department_code: str
    category: str
    subject_code: str
    reason_code: str  # e.g. "unknown_registration_number", "unknown_organisation_code"
    status: str  # "parked" | "released" | "rejected"
    emitted_at: dt.datetime
    updated_at: dt.datetime  # the later state of one event replaces the earlier


def _millis(row_id: str, name: str, value: Any) -> int:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise RecordMappingError(row_id, name, "a timezone-aware datetime", value)
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def _require(row_id: str, row: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if row.get(name) in (None, ""):
            raise RecordMappingError(row_id, name, "a value", row.get(name))


def control_total_row(row: ControlTotalRow) -> dict[str, Any]:
    row_id = f"control total {row.get('department_code')}/{row.get('day')}"
    _require(row_id, row, ("department_code", "day", "declared", "batch_id"))
    if not isinstance(row["day"], dt.date) or isinstance(row["day"], dt.datetime):
        raise RecordMappingError(row_id, "day", "a date", row["day"])
    if not isinstance(row["declared"], int) or row["declared"] < 0:
        raise RecordMappingError(row_id, "declared", "a non-negative integer", row["declared"])
    return {
        "department_code": row["department_code"],
        "day": row["day"],
        "category": row.get("category") or "",
        "declared": row["declared"],
        "batch_id": row["batch_id"],
        "reported_at": row["reported_at"],
        "row_version": _millis(row_id, "reported_at", row["reported_at"]),
        "department_name": row.get("department_name") or "",
        "has_declared": int(bool(row.get("has_declared", True))),
        "received": int(row.get("received") or 0),
        "duplicates": int(row.get("duplicates") or 0),
    }


def rejection_row(row: RejectionRow) -> dict[str, Any]:
    row_id = f"rejection {row.get('rejection_id')}"
    _require(row_id, row, ("rejection_id", "department_code", "reason_code", "reason"))
    _millis(row_id, "emitted_at", row.get("emitted_at"))
    _millis(row_id, "rejected_at", row.get("rejected_at"))
    return {
        "rejection_id": row["rejection_id"],
        "event_id": row.get("event_id") or "",
        "department_code": row["department_code"],
        "category": row.get("category") or "",
        "reason_code": row["reason_code"],
        # Reasons quote records; one written before masking, or by any other path, is masked.
        "reason": mask_resident_ids(row["reason"]),
        "field": row.get("field") or "",
        "emitted_at": row["emitted_at"],
        "rejected_at": row["rejected_at"],
        "stage": row.get("stage") or "",
        "record_ref": row.get("record_ref") or "",
        "record_key": mask_resident_ids(row.get("record_key") or ""),
        "value": mask_resident_ids(str(row.get("value") or ""))[:200],
        "fields_json": mask_resident_ids(row.get("fields_json") or "{}"),
    }


def parked_row(row: ParkedRow) -> dict[str, Any]:
    row_id = f"parked {row.get('event_id')}"
    _require(row_id, row, ("event_id", "department_code", "reason_code", "status"))
    _millis(row_id, "emitted_at", row.get("emitted_at"))
    return {
        "event_id": row["event_id"],
        "department_code": row["department_code"],
        "category": row.get("category") or "",
        "subject_code": row.get("subject_code") or "",
        "reason_code": row["reason_code"],
        "status": row["status"],
        "emitted_at": row["emitted_at"],
        "updated_at": row["updated_at"],
        "row_version": _millis(row_id, "updated_at", row.get("updated_at")),
    }


_STAGE_RANK = {"initiated": 0, "responded": 1, "fed_back": 2}


def _iso_date(row_id: str, name: str, value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise RecordMappingError(row_id, name, "an ISO date", value) from None


def notice_row(notice: Mapping[str, Any]) -> dict[str, Any]:
    """A joint-punishment notice state (streams.rules.notices.JointPunishmentNotice) as a row.

    A notice only moves forward (initiated → responded → fed_back, dates filled once), so a
    rank of how far it has got is a valid ReplacingMergeTree version: replays of older
    states never win."""
    row_id = f"notice {notice.get('notice_id')}"
    _require(row_id, notice, ("notice_id", "department_name", "uscc", "initiated_on", "stage"))
    stage = notice["stage"]
    if stage not in _STAGE_RANK:
        raise RecordMappingError(row_id, "stage", "initiated, responded or fed_back", stage)
    responded = _iso_date(row_id, "responded_on", notice.get("responded_on"))
    fed_back = _iso_date(row_id, "fed_back_on", notice.get("fed_back_on"))
    ended = _iso_date(row_id, "ended_on", notice.get("ended_on"))
    return {
        "notice_id": notice["notice_id"],
        "department_code": notice.get("department_code") or "",
        "department_name": notice["department_name"],
        "uscc": notice["uscc"],
        "item_id": notice.get("item_id") or "",
        "record_event_id": notice.get("record_event_id") or "",
        "information_type": mask_resident_ids(notice.get("information_type") or ""),
        "initiated_on": _iso_date(row_id, "initiated_on", notice["initiated_on"]),
        "stage": stage,
        "responded_on": responded,
        "fed_back_on": fed_back,
        "measures": mask_resident_ids(notice.get("measures") or ""),
        "canonical_name": notice.get("canonical_name") or "",
        "legal_basis": mask_resident_ids(notice.get("legal_basis") or ""),
        "restricted_from": _iso_date(row_id, "restricted_from", notice.get("restricted_from")),
        "restricted_to": _iso_date(row_id, "restricted_to", notice.get("restricted_to")),
        "sending_department": notice.get("sending_department") or "",
        "measures_expected": notice.get("measures_expected") or "",
        "deadline": _iso_date(row_id, "deadline", notice.get("deadline")),
        "ended_on": ended,
        "ended_reason": notice.get("ended_reason") or "",
        # An ended restriction outranks every feedback state (it is the notice's last word).
        "row_version": (ended is not None) * 16
        + _STAGE_RANK[stage] * 4
        + (responded is not None) * 2
        + (fed_back is not None),
    }
