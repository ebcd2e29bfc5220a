"""The operational row builders: what a rejection, a parked record, a control total and a
notice become in ClickHouse, and the error that names the row and field when one is wrong."""

from __future__ import annotations

import datetime as dt

import pytest

from sinks.clickhouse import operations
from sinks.errors import RecordMappingError

AT = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)


def _rejection(**overrides):
    row = {
        "rejection_id": "credit.rejected:0:17",
        "event_id": "e-1",
        "department_code": "scjg-640000",
        "category": "penalty",
        "reason_code": "invalid_code",
        "reason": "第 3 行 统一社会信用代码：校验位不符",
        "field": "uscc",
        "emitted_at": AT,
        "rejected_at": AT + dt.timedelta(seconds=2),
    }
    return {**row, **overrides}


def test_a_rejection_keeps_its_reason_and_field() -> None:
    row = operations.rejection_row(_rejection())
    assert row["reason_code"] == "invalid_code"
    assert row["reason"].startswith("第 3 行")
    assert row["field"] == "uscc"
    assert row["rejected_at"] - row["emitted_at"] == dt.timedelta(seconds=2)


def test_a_rejection_without_event_id_or_field_gets_empty_strings_not_nulls() -> None:
    row = operations.rejection_row(_rejection(event_id=None, field=None, category=None))
    assert (row["event_id"], row["field"], row["category"]) == ("", "", "")


def test_a_rejection_without_a_reason_is_refused_naming_the_field() -> None:
    with pytest.raises(RecordMappingError) as refused:
        operations.rejection_row(_rejection(reason=""))
    assert "reason" in str(refused.value)
    assert "credit.rejected:0:17" in str(refused.value)


def test_a_rejection_with_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(RecordMappingError) as refused:
        operations.rejection_row(_rejection(rejected_at=dt.datetime(2026, 12, 2)))
    assert "rejected_at" in str(refused.value)


def _parked(**overrides):
    row = {
        "event_id": "e-2",
        "department_code": "sw-640000",
        "category": "license",
        "subject_code": "640200000012345",
        "reason_code": "unknown_registration_number",
        "status": "parked",
        "emitted_at": AT,
        "updated_at": AT + dt.timedelta(minutes=5),
    }
    return {**row, **overrides}


def test_a_later_state_of_a_parked_record_has_a_higher_row_version() -> None:
    parked = operations.parked_row(_parked())
    released = operations.parked_row(
        _parked(status="released", updated_at=AT + dt.timedelta(minutes=9))
    )
    assert released["row_version"] > parked["row_version"]
    assert parked["subject_code"] == "640200000012345"


def test_a_parked_record_without_status_is_refused() -> None:
    with pytest.raises(RecordMappingError) as refused:
        operations.parked_row(_parked(status=None))
    assert "status" in str(refused.value)


def _control_total(**overrides):
    row = {
        "department_code": "scjg-640000",
        "day": dt.date(2026, 12, 1),
        "category": "penalty",
        "declared": 120,
        "batch_id": "penalties-20261201.xlsx",
        "reported_at": AT,
    }
    return {**row, **overrides}


def test_a_control_total_keeps_the_declared_count_of_its_batch() -> None:
    row = operations.control_total_row(_control_total())
    assert (row["declared"], row["batch_id"], row["day"]) == (
        120,
        "penalties-20261201.xlsx",
        dt.date(2026, 12, 1),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("declared", -1), ("declared", "120"), ("day", AT), ("batch_id", "")],
)
def test_a_control_total_with_a_wrong_value_is_refused_naming_the_field(field, value) -> None:
    with pytest.raises(RecordMappingError) as refused:
        operations.control_total_row(_control_total(**{field: value}))
    assert field in str(refused.value)


def test_a_notice_row_version_grows_as_the_notice_moves_forward() -> None:
    base = {
        "notice_id": "n-1",
        "department_name": "住建厅",
        "uscc": "91640000MA76L3G74X",
        "initiated_on": "2026-12-01",
        "stage": "initiated",
    }
    initiated = operations.notice_row(base)
    responded = operations.notice_row({**base, "stage": "responded", "responded_on": "2026-12-02"})
    fed_back = operations.notice_row(
        {
            **base,
            "stage": "fed_back",
            "responded_on": "2026-12-02",
            "fed_back_on": "2026-12-03",
        }
    )
    assert initiated["row_version"] < responded["row_version"] < fed_back["row_version"]
    with pytest.raises(RecordMappingError):
        operations.notice_row({**base, "stage": "closed"})
