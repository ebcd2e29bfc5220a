"""Building intake events: validation, subject codes, keys, deterministic ids, rejections."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from producers.events import (
    RecordRejection,
    build_intake_event,
    control_totals_event,
    spreadsheet_sequence,
)
from schemas.identifiers import make_registration_number, make_resident_id, make_uscc
from schemas.records import Department

DEPT = Department(code="scjg-640000", name="宁夏回族自治区市场监督管理厅")
OTHER = Department(code="hb-640000", name="宁夏回族自治区生态环境厅")
AT = dt.datetime(2018, 3, 9, 8, 0, tzinfo=dt.UTC)
USCC = make_uscc("9", "1", "640422", "43635181")
REG = make_registration_number("640422", "66865727")


def penalty(**changes: Any) -> dict[str, Any]:
    fields = {
        "serial": 3,
        "subject_code": USCC,
        "subject_name": "宁夏六盘山商贸有限公司",
        "penalising_authority": "宁夏回族自治区市场监督管理厅",
        "decision_number": "宁市监罚〔2018〕10号",
        "decided_on": "2018/3/1",
        "violation_type": "虚假宣传",
        "fine_amount": "1.5万元",
        "penalty_kind": "罚款",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def build(fields: dict[str, Any], category: str = "penalty", dept: Department = DEPT, **kw: Any):
    return build_intake_event(category, fields, dept, "spreadsheet/1", 7, AT, **kw)  # type: ignore[arg-type]


def test_a_valid_penalty_becomes_an_intake_event() -> None:
    event = build(penalty())
    assert not isinstance(event, RecordRejection)
    assert event["category"] == "penalty"
    assert event["operation"] == "upsert"
    assert event["record_key"] == "宁市监罚〔2018〕10号"
    assert event["occurred_at"] == dt.date(2018, 3, 1)
    assert event["subject"] == {
        "uscc": USCC,
        "registration_number": None,
        "organisation_code": None,
        "name": "宁夏六盘山商贸有限公司",
    }
    assert event["payload"]["fine_amount"] == Decimal("15000.00")
    assert event["payload"]["confiscation_amount"] is None
    assert event["payload"]["decided_on"] == dt.date(2018, 3, 1)
    assert event["department"] == DEPT
    assert (event["source_sequence"], event["emitted_at"], event["adapter"]) == (
        7,
        AT,
        "spreadsheet/1",
    )


@pytest.mark.parametrize(
    ("code", "kind", "normalised"),
    [
        (REG, "registration_number", REG),
        ("43635181-3", "organisation_code", "436351813"),
        (USCC.lower(), "uscc", USCC),
    ],
)
def test_the_subject_column_may_hold_any_of_the_three_codes(
    code: str, kind: str, normalised: str
) -> None:
    event = build(penalty(subject_code=code))
    assert not isinstance(event, RecordRejection)
    assert event["subject"][kind] == normalised  # type: ignore[literal-required]


def test_same_content_gives_the_same_event_id_whatever_the_spelling() -> None:
    first = build(penalty())
    again = build_intake_event("penalty", penalty(), DEPT, "http/1", 99, AT + dt.timedelta(days=3))
    respelled = build(penalty(decided_on="2018年3月1日", fine_amount="15,000元", serial=8))
    ids = {e["event_id"] for e in (first, again, respelled)}  # type: ignore[index]
    assert len(ids) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"fine_amount": "20000"},
        {"violation_type": "无证经营"},
        {"subject_code": REG},
        {"remarks": "已缴纳"},
        {"operation": "撤销"},
    ],
)
def test_changed_content_gives_a_new_event_id(change: dict[str, Any]) -> None:
    assert build(penalty())["event_id"] != build(penalty(**change))["event_id"]  # type: ignore[index]


def test_another_department_sending_the_same_content_gets_another_id() -> None:
    assert build(penalty())["event_id"] != build(penalty(), dept=OTHER)["event_id"]  # type: ignore[index]


def test_rejection_names_the_record_field_value_and_expectation() -> None:
    rejection = build(penalty(decided_on="2018-02-30"), record_ref="row 5")
    assert isinstance(rejection, RecordRejection)
    assert rejection.record_ref == "row 5 (序号 3)"
    assert (rejection.field, rejection.field_chinese) == ("decided_on", "作出行政处罚决定日期")
    assert rejection.value == "2018-02-30"
    assert "expected a date such as 2017-03-07" in rejection.reason
    assert "no such day: 2018-02-30" in rejection.reason
    assert str(rejection).startswith(
        "row 5 (序号 3): 作出行政处罚决定日期 (decided_on) = '2018-02-30'"
    )


def test_invalid_subject_code_is_rejected_under_the_template_column_name() -> None:
    bad = USCC[:17] + ("0" if USCC[17] != "0" else "1")
    rejection = build(penalty(subject_code=bad))
    assert isinstance(rejection, RecordRejection)
    assert rejection.field_chinese == "统一社会信用代码（企业注册号）"
    assert rejection.code == "invalid_code"
    assert "a valid USCC (统一社会信用代码): check character expected" in rejection.reason


def test_a_resident_id_in_the_subject_column_is_rejected_and_masked() -> None:
    person = make_resident_id("640422", dt.date(1980, 5, 17), "123")
    rejection = build(penalty(subject_code=person))
    assert isinstance(rejection, RecordRejection)
    assert "resident ID" in rejection.reason
    assert person not in str(rejection) and person[:6] in str(rejection)


def test_every_problem_of_a_row_is_listed() -> None:
    rejection = build(
        penalty(subject_code=None, decision_number=" ", fine_amount="很多", extra="?")
    )
    assert isinstance(rejection, RecordRejection)
    found = {(p.field, p.code) for p in rejection.problems}
    assert found == {
        ("decision_number", "required"),
        ("fine_amount", "invalid_value"),
        ("subject_code", "required"),
        ("extra", "unknown_field"),
    }
    assert "行政处罚决定书文号 (decision_number) = ' ': required, but empty" in rejection.message


def test_codes_in_one_row_must_agree() -> None:
    other = make_uscc("9", "1", "640104", "96677946")
    rejection = build(penalty(subject_uscc=other))
    assert isinstance(rejection, RecordRejection)
    assert rejection.code == "conflicting_codes"
    mismatched = build(penalty(subject_organisation_code="96677946-2"))
    assert isinstance(mismatched, RecordRejection)
    assert "is not characters 9-17 of USCC" in mismatched.reason


def test_registration_code_columns_hold_their_own_kind() -> None:
    fields = {"uscc": REG, "registration_number": REG, "name": "宁夏六盘山商贸有限公司"}
    rejection = build(fields, "registration")
    assert isinstance(rejection, RecordRejection)
    assert rejection.field == "uscc"
    assert "expected a uscc, this is a registration_number" in rejection.reason
    ok = build({"uscc": USCC, "registration_number": REG, "name": "六盘山"}, "registration")
    assert not isinstance(ok, RecordRejection)
    assert ok["subject"]["registration_number"] == REG and ok["record_key"] == USCC


def test_composite_keys_and_open_ended_dates() -> None:
    fields = {
        "subject_code": USCC,
        "inspecting_authority": "银川市市场监督管理局",
        "inspection_type": "双随机抽查",
        "inspected_on": "2018.3.15",
        "inspection_result": "未发现问题",
    }
    event = build(fields, "inspection")
    assert event["record_key"] == "银川市市场监督管理局|双随机抽查|2018-03-15"  # type: ignore[index]
    licence = {
        "subject_code": USCC,
        "license_number": "宁食药许〔2018〕100号",
        "license_name": "食品经营许可证",
        "valid_from": "2018-03-01",
        "valid_to": "长期有效",
        "licensing_authority": "宁夏回族自治区食品药品监督管理局",
    }
    assert build(licence, "license")["payload"]["valid_to"] is None  # type: ignore[index]


def test_withdraw_operation_and_bad_operation() -> None:
    assert build(penalty(operation="撤销"))["operation"] == "withdraw"  # type: ignore[index]
    rejection = build(penalty(operation="maybe"))
    assert isinstance(rejection, RecordRejection)
    assert "expected 新增/变更 (upsert) or 撤销 (withdraw)" in rejection.reason


def test_wan_yuan_column_scale_applies() -> None:
    event = build(penalty(fine_amount="2"), scales={"fine_amount": Decimal(10_000)})
    assert event["payload"]["fine_amount"] == Decimal("20000.00")  # type: ignore[index]


def test_spreadsheet_sequence_orders_resends_after_earlier_sends() -> None:
    first = spreadsheet_sequence(AT, 1_048_576)
    later = spreadsheet_sequence(AT + dt.timedelta(milliseconds=1), 2)
    assert spreadsheet_sequence(AT, 2) < spreadsheet_sequence(AT, 3) < first < later
    assert later < 2**63


def test_control_totals_balance() -> None:
    totals = control_totals_event(
        DEPT, "penalty", "penalty.csv", 10, 6, 1, {"invalid_code": 1, "required": 2}, emitted_at=AT
    )
    assert totals["received"] == 10 and totals["rejected"] == 3 and totals["balanced"] is True
    assert totals["emitted_at"] == "2018-03-09T08:00:00+00:00"
    short = control_totals_event(DEPT, "penalty", "penalty.csv", 11, 6, 1, {"required": 3})
    assert short["balanced"] is False
