"""Issue #17's categories end to end on the real services: the sample file of each, read as a
department sends it, through streams to the public profile (Redis) and ClickHouse.

The samples name their enterprises by legacy codes too (row 1 a registration number, row 2 an
organisation code): registration.csv registers them, and every record resolves to its USCC.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from producers.events import RecordRejection, build_intake_event
from producers.spreadsheet import parse_spreadsheet
from schemas.records import Department
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from tests.intake_factory import publish
from tests.integration.helpers import count, run_until, sinks_caught_up

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"
AT = dt.datetime(2018, 4, 20, tzinfo=dt.UTC)
MARKET = Department(code="scjg-640000", name="宁夏回族自治区市场监督管理厅")
DEPARTMENTS = {
    "chattel_mortgage": MARKET,
    "equity_pledge": MARKET,
    "small_business_support": MARKET,
    "judicial_assistance": Department(code="fy-640000", name="宁夏回族自治区高级人民法院"),
    "tax_credit_rating": Department(code="sw-640000", name="国家税务总局宁夏回族自治区税务局"),
}
# The section the public page shows, and the sample's first row as the profile must show it.
FIRST_ROW = {
    "chattel_mortgage": ("宁640422动抵〔2018〕1号", "secured_amount", "500000.00"),
    "equity_pledge": ("64042220180001", "pledgee", "宁夏银行股份有限公司"),
    "judicial_assistance": ("（2018）宁0104执100号", "enforcing_court", "银川市兴庆区人民法院"),
    "small_business_support": ("银川市财政局|财政补贴|2018-03-01", "support_amount", "30000.00"),
    "tax_credit_rating": ("2017", "credit_grade", "A"),
}


def sample(name: str, department: Department = MARKET) -> list:
    out = list(parse_spreadsheet(SAMPLES / f"{name}.csv", department, None, emitted_at=AT))
    assert not [o for o in out if isinstance(o, RecordRejection)], out
    return out


def sample_rows(name: str) -> list[dict[str, str]]:
    with (SAMPLES / f"{name}.csv").open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def release_of_first_freeze() -> dict:
    """The court's 解除冻结 of the sample's first freeze: the same 执行通知书文号, later."""
    first = sample("judicial_assistance", DEPARTMENTS["judicial_assistance"])[0]
    fields = {
        **first["payload"],
        "assistance_status": "解除冻结",
        "unfrozen_on": "2018-04-16",
        "subject_code": first["subject"]["registration_number"],
    }
    fields["id_document_number"] = sample_rows("judicial_assistance")[0]["被执行人证照号码"]
    event = build_intake_event("judicial_assistance", fields, DEPARTMENTS["judicial_assistance"],
                               "spreadsheet/1", first["source_sequence"] + 1000,
                               AT + dt.timedelta(days=1))  # fmt: skip
    assert not isinstance(event, RecordRejection), event
    return event


@pytest.mark.parametrize("category", list(DEPARTMENTS))
def test_sample_file_reaches_the_profile_and_clickhouse(pipeline, redis_client, category):
    registrations = sample("registration")
    records = sample(category, DEPARTMENTS[category])
    events = registrations + records
    if category == "judicial_assistance":
        events.append(release_of_first_freeze())
    publish(pipeline.bootstrap, events, pipeline.topic_prefix)
    reader = PublicityReader(redis_client)
    # Row 1 is sent under the enterprise's legacy registration number.
    legacy_code = sample_rows(category)[0]["统一社会信用代码（企业注册号）"]
    uscc = registrations[0]["payload"]["uscc"]
    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    db = pipeline.clickhouse_database

    def everything_there() -> bool:
        items = ((reader.profile(legacy_code) or {}).get("items") or {}).get(category) or []
        stored = count(client, db, f"SELECT count() FROM {{db}}.{category} FINAL")
        return bool(items) and stored == len(records) and sinks_caught_up(pipeline)

    assert run_until(pipeline, everything_there), f"{category} never reached both stores"

    profile = reader.profile(legacy_code)
    assert profile["uscc"] == uscc
    key, field, value = FIRST_ROW[category]
    (item,) = profile["items"][category]
    assert item["record_key"] == key
    assert str(item["payload"][field]) == value
    (row,) = client.query(
        f"SELECT record_key, {field}, department_code FROM {db}.{category} FINAL "
        "WHERE uscc = {uscc:String}",
        parameters={"uscc": uscc},
    ).result_rows
    assert row[0] == key and str(row[1]) == value
    assert row[2] == DEPARTMENTS[category]["code"]

    if category == "judicial_assistance":
        # The release is a new version of the freeze: shown with its date, and the only
        # row of that item in ClickHouse.
        assert item["payload"]["assistance_status"] == "解除冻结"
        assert item["payload"]["unfrozen_on"] == "2018-04-16"
        released = (
            "SELECT countIf(assistance_status = '解除冻结') FROM {db}.judicial_assistance "
            "FINAL WHERE unfrozen_on = '2018-04-16'"
        )
        assert count(client, db, released) == 1
    if category in ("equity_pledge", "judicial_assistance"):
        number_header = "出质人证照/证件号码" if category == "equity_pledge" else "被执行人证照号码"
        number = sample_rows(category)[0][number_header]
        masked = item["payload"]["id_document_number_masked"]
        assert masked == f"{number[:6]}********{number[-4:]}"
        shown = json.dumps(profile, ensure_ascii=False)
        assert number not in shown and "id_document_number_hash" not in shown
        hashes = client.query(
            f"SELECT id_document_number_hash FROM {db}.{category} FINAL"
        ).result_rows
        assert all(len(h) == 64 for (h,) in hashes)
        leaks = count(client, db, "SELECT count() FROM {db}.records_raw "
                      f"WHERE position(payload_json, '{number}') > 0 "
                      f"OR position(payload_json, '{masked}') > 0")  # fmt: skip
        assert leaks == 0
    if category == "tax_credit_rating":
        # A-level: on the A-level taxpayers' list, and a derived 守信 entry in the profile.
        assert {"red_list", "tax_credit_rating"} <= set(profile["lists"])
        (honour,) = profile["items"]["red_list"]
        assert honour["derived_from"] == item["item_id"]
        assert honour["payload"]["honour_name"] == "纳税信用A级纳税人（2017年度）"
        a_list = reader.list_page("tax_credit_rating")
        assert a_list["total"] == 3  # the sample rates three enterprises A
        # The derived entry is not a record: ClickHouse holds no red_list row for it.
        assert count(client, db, "SELECT count() FROM {db}.red_list") == 0
