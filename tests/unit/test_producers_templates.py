"""Header mapping (Chinese, English, full-width variants) and category inference."""

from __future__ import annotations

from decimal import Decimal

import pytest

from producers.errors import CategoryNotRecognised, HeaderError
from producers.templates import (
    SERIAL,
    SUBJECT_CODE,
    SUBJECT_NAME,
    SUBJECT_REGISTRATION_NUMBER,
    SUBJECT_USCC,
    field_for_header,
    infer_category,
    map_headers,
)
from schemas.categories import CATEGORY_SPECS, SUBJECT_CODE_HEADER

PENALTY_HEADERS = [
    "序号",
    "统一社会信用代码（企业注册号）",
    "企业名称",
    "作出行政处罚决定机关名称",
    "行政处罚决定书文号",
    "作出行政处罚决定日期",
    "违法行为类型",
    "罚款金额",
    "没收金额",
    "处罚种类",
    "备注",
]


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("统一社会信用代码（企业注册号）", SUBJECT_CODE),
        ("统一社会信用代码(企业注册号)", SUBJECT_CODE),  # half-width brackets
        (" 统一社会信用代码 （企业注册号） ", SUBJECT_CODE),  # stray spaces
        ("统一社会信用代码\u3000(企业注册号)", SUBJECT_CODE),  # full-width space
        ("统一社会信用代码", SUBJECT_USCC),
        ("注册号", SUBJECT_REGISTRATION_NUMBER),
        ("企业名称", SUBJECT_NAME),
        ("序号", SERIAL),
        ("*行政处罚决定书文号", "decision_number"),  # a required-column marker
        ("罚款金额（万元）", "fine_amount"),
        ("罚款金额(元)", "fine_amount"),
        ("decision_number", "decision_number"),
        ("Decision Number", "decision_number"),
        ("decided-on", "decided_on"),
        ("subject_code", SUBJECT_CODE),
        ("uscc", SUBJECT_USCC),
        ("许可文件编号", None),  # a licence column is not a penalty field
        ("", None),
    ],
)
def test_penalty_headers(header: str, field: str | None) -> None:
    assert field_for_header(header, "penalty") == field


def test_every_template_name_maps_to_its_field() -> None:
    for category, spec in CATEGORY_SPECS.items():
        for field in spec.fields:
            assert field_for_header(field.chinese, category) == field.name, field.chinese
            assert field_for_header(field.name, category) == field.name


def test_registration_code_columns_are_fields_of_the_record() -> None:
    assert field_for_header("统一社会信用代码", "registration") == "uscc"
    assert field_for_header("注册号", "registration") == "registration_number"
    assert field_for_header("企业名称", "registration") == "name"


def test_map_headers_reads_the_unit_of_amount_columns() -> None:
    headers = [h if h != "罚款金额" else "罚款金额（万元）" for h in PENALTY_HEADERS]
    mapping = map_headers(headers, "penalty")
    assert mapping.scales == {"fine_amount": Decimal(10_000), "confiscation_amount": Decimal(1)}
    row = dict(zip(headers, range(len(headers)), strict=True))
    assert mapping.apply(row)["decision_number"] == 4


def test_map_headers_names_missing_unknown_and_duplicate_columns() -> None:
    headers = [*PENALTY_HEADERS[:4], "文号", "罚款金额(元)"]
    headers.remove("统一社会信用代码（企业注册号）")
    with pytest.raises(HeaderError) as info:
        map_headers(headers, "penalty")
    message = str(info.value)
    assert "missing required columns: 统一社会信用代码（企业注册号）, 行政处罚决定书文号" in message
    assert "unknown columns: 文号" in message
    with pytest.raises(HeaderError, match="columns naming the same field: fine_amount"):
        map_headers([*PENALTY_HEADERS, "罚款金额（万元）"], "penalty")


def test_unknown_columns_may_be_allowed_explicitly() -> None:
    mapping = map_headers([*PENALTY_HEADERS, "数据来源"], "penalty", allow_unknown=True)
    assert mapping.unknown == ("数据来源",)


def test_the_rejection_columns_are_ignored_on_re_ingest() -> None:
    mapping = map_headers(["行号", "错误字段", "错误值", "错误原因", *PENALTY_HEADERS], "penalty")
    assert "行号" not in mapping.fields


@pytest.mark.parametrize("category", list(CATEGORY_SPECS))
def test_infer_category_from_the_full_template(category: str) -> None:
    spec = CATEGORY_SPECS[category]  # type: ignore[index]
    own = [f.chinese for f in spec.fields]
    headers = own if category == "registration" else ["序号", SUBJECT_CODE_HEADER, "企业名称", *own]
    assert infer_category(headers) == category


def test_infer_category_from_english_headers_and_only_required_columns() -> None:
    spec = CATEGORY_SPECS["penalty_change"]
    headers = ["subject_code", *(f.name for f in spec.fields if f.required)]
    assert infer_category(headers) == "penalty_change"


def test_infer_category_error_names_the_closest_and_what_is_wrong() -> None:
    headers = [*PENALTY_HEADERS, "处罚依据文件"]
    headers.remove("违法行为类型")
    with pytest.raises(CategoryNotRecognised) as info:
        infer_category(headers)
    assert info.value.closest == "penalty"
    assert info.value.missing == ("违法行为类型",)
    assert info.value.unknown == ("处罚依据文件",)
    assert "closest is 'penalty'" in str(info.value)
    assert "missing required columns: 违法行为类型" in str(info.value)
    assert "pass --category" in str(info.value)
