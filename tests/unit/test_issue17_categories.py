"""Issue #17's categories: sample files and JSON in Chinese read right, ID numbers never in
clear (producers, streams, ClickHouse rows, profile), A-level tax ratings on the red list."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from producers.events import RecordRejection, build_intake_event
from producers.http_payload import map_record_fields
from producers.spreadsheet import parse_spreadsheet
from schemas.codec import decode_enriched, decode_intake, encode_enriched, encode_intake
from schemas.records import Department
from sinks.base import privacy_violation
from sinks.clickhouse import rows
from sinks.publicity import profile
from streams.rules.privacy import published_payload
from tests.conftest import TEST_HASH_KEY
from tests.factories import make_enriched

SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"
AT = dt.datetime(2018, 4, 20, tzinfo=dt.UTC)
MARKET = Department(code="scjg-640000", name="宁夏回族自治区市场监督管理厅")
COURT = Department(code="fy-640000", name="宁夏回族自治区高级人民法院")
TAX = Department(code="sw-640000", name="国家税务总局宁夏回族自治区税务局")
NEW = ("chattel_mortgage", "equity_pledge", "judicial_assistance", "small_business_support",
       "tax_credit_rating")  # fmt: skip


def sample_events(category: str, department: Department = MARKET) -> list[dict]:
    out = list(parse_spreadsheet(SAMPLES / f"{category}.csv", department, None, emitted_at=AT))
    assert not [o for o in out if isinstance(o, RecordRejection)], out
    return out  # type: ignore[return-value]


@pytest.mark.parametrize("category", NEW)
def test_sample_is_read_with_its_chinese_headers_and_category_inferred(category: str) -> None:
    events = sample_events(category)
    assert len(events) == 6
    assert {e["category"] for e in events} == {category}
    for event in events:
        # Round trip through the wire format the producers write.
        assert decode_intake(encode_intake(event)) == event  # type: ignore[arg-type]


def test_mortgage_amounts_in_wan_yuan_and_dates() -> None:
    first, second, third = sample_events("chattel_mortgage")[:3]
    assert first["record_key"] == "宁640422动抵〔2018〕1号"
    assert first["payload"]["registered_on"] == dt.date(2018, 3, 1)
    assert first["occurred_at"] == dt.date(2018, 3, 1)  # the deadline runs from 登记日期
    assert second["payload"]["secured_amount"] == Decimal("1200000.00")  # 120万元
    assert third["payload"]["secured_amount"] == Decimal("80000.00")  # 80,000.00元
    assert first["payload"]["registering_authority"] == "银川市市场监督管理局"


def test_pledgor_id_number_leaves_the_producer_sealed() -> None:
    events = sample_events("equity_pledge")
    text = (SAMPLES / "equity_pledge.csv").read_text("utf-8-sig")
    for event in events:
        number = event["payload"]["id_document_number"]
        assert number.startswith("enc:"), number
        assert number not in text
    assert events[0]["payload"]["pledgor"] == "马建国"  # the name is shown, as published
    assert events[0]["payload"]["pledged_amount"] == Decimal("500000.00")


def test_judicial_assistance_freeze_release_and_transfer() -> None:
    freeze, release, transfer = sample_events("judicial_assistance", COURT)[:3]
    assert (freeze["payload"]["assistance_type"], freeze["payload"]["assistance_status"]) == (
        "股权冻结", "冻结")  # fmt: skip
    assert freeze["payload"]["frozen_to"] == dt.date(2021, 3, 1)
    assert release["payload"]["assistance_status"] == "解除冻结"
    assert release["payload"]["unfrozen_on"] == dt.date(2018, 4, 17)
    assert transfer["payload"]["assistance_type"] == "股东变更"
    assert transfer["payload"]["transferee"] == "西夏区塞上物流有限公司"
    assert transfer["payload"]["frozen_from"] is None
    assert freeze["payload"]["id_document_number"].startswith("enc:")


def test_http_json_with_chinese_keys_builds_the_same_kind_of_event() -> None:
    record = {
        "统一社会信用代码（企业注册号）": "91640302568587166B",
        "企业名称": "吴忠市利通区清真食品厂",
        "评价年度": "2017",
        "纳税信用等级": "A",
        "评价机关": "国家税务总局吴忠市税务局",
        "发布日期": "2018年4月15日",
    }
    fields = map_record_fields("tax_credit_rating", record, "record 1")
    assert not isinstance(fields, RecordRejection)
    event = build_intake_event("tax_credit_rating", fields, TAX, "http/1", 1, AT)
    assert not isinstance(event, RecordRejection), event
    assert event["record_key"] == "2017"
    assert event["payload"]["published_on"] == dt.date(2018, 4, 15)


def test_a_missing_required_field_is_named_in_chinese() -> None:
    fields = map_record_fields(
        "small_business_support",
        {"统一社会信用代码（企业注册号）": "91640302568587166B", "扶持部门": "银川市财政局",
         "扶持类型": "财政补贴", "实施日期": "2018-03-01"},
        "record 1",
    )  # fmt: skip
    rejection = build_intake_event("small_business_support", fields, MARKET, "http/1", 1, AT)
    assert isinstance(rejection, RecordRejection)
    assert "扶持内容" in str(rejection.problems[0]) and "required" in rejection.reason


def test_an_id_number_in_another_field_refuses_the_record() -> None:
    fields = {"subject_code": "91640302568587166B", "notice_number": "（2018）宁0104执1号",
              "assistance_type": "股权冻结", "assistance_status": "冻结",
              "debtor": "马建国 640422196503123018", "equity_amount": "1000",
              "enforcing_court": "银川市兴庆区人民法院", "executed_on": "2018-03-01"}  # fmt: skip
    rejection = build_intake_event("judicial_assistance", fields, COURT, "http/1", 1, AT)
    assert isinstance(rejection, RecordRejection)
    assert rejection.field == "debtor"
    assert "640422196503123018" not in str(rejection)


@pytest.mark.security
@pytest.mark.parametrize("category", ["equity_pledge", "judicial_assistance"])
def test_published_payload_masks_and_hashes_the_natural_persons_id(category: str) -> None:
    event = sample_events(category, COURT)[0]
    published = published_payload(category, event["payload"], TEST_HASH_KEY.encode())
    assert "id_document_number" not in published
    masked = published["id_document_number_masked"]
    assert "*" in masked and masked[:6].isdigit() and len(masked) == 18
    assert len(published["id_document_number_hash"]) == 64
    record = make_enriched(category, payload=published)
    assert privacy_violation(record) is None
    assert decode_enriched(encode_enriched(record)) == record  # type: ignore[arg-type]
    row = rows.category_row(record)
    assert row["id_document_number_hash"] == published["id_document_number_hash"]
    assert "id_document_number_masked" not in row and "id_document_number" not in row
    raw = rows.raw_row(record)["payload_json"]
    assert masked not in raw
    item = profile.public_item(record)
    assert item is not None
    assert item["payload"]["id_document_number_masked"] == masked
    assert "id_document_number_hash" not in item["payload"]


@pytest.mark.security
def test_a_raw_id_number_reaching_the_sinks_is_refused() -> None:
    record = make_enriched("equity_pledge", payload={"id_document_number": "640422196503123018"})
    assert privacy_violation(record) is not None


@pytest.mark.parametrize(
    ("grade", "a"),
    [
        ("A", True),
        ("Ａ", True),
        ("A级", True),
        (" a ", True),
        ("B", False),
        ("M", False),
        ("", False),
        (None, False),
    ],
)
def test_a_grade_however_written(grade: str | None, a: bool) -> None:
    assert profile.is_a_grade(grade) is a


def test_only_an_a_rating_lists_the_enterprise_and_derives_a_red_list_entry() -> None:
    a_rating = make_enriched("tax_credit_rating", n=5)
    b_rating = make_enriched("tax_credit_rating", n=6, payload={"credit_grade": "B"})
    published_on = a_rating["payload"]["published_on"]
    assert profile.list_score(a_rating) == int(published_on.strftime("%Y%m%d"))
    assert profile.list_score(b_rating) is None
    items = [json.loads(profile.dumps(profile.public_item(r))) for r in (a_rating, b_rating)]
    (derived,) = profile.derived_red_list_items(items)
    assert derived["category"] == "red_list"
    assert derived["derived_from"] == items[0]["item_id"]
    assert derived["payload"]["honour_name"] == "纳税信用A级纳税人（2023年度）"
    assert derived["payload"]["awarding_authority"] == "国家税务总局西吉县税务局"
    withdrawn = make_enriched("tax_credit_rating", n=5, operation="withdraw")
    assert profile.public_item(withdrawn) is None  # nothing left to derive an entry from
