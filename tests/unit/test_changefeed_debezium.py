"""Debezium envelopes to intake events: c/u/r upsert the row after, d withdraws the row
before, column encodings decoded, and anything unmappable refused with its reason."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

import pytest

from producers.changefeed import MalformedChange, map_change, parse_change, parse_mapping
from producers.changefeed.debezium import decode_value, source_sequence
from tests.intake_factory import enterprise_codes

USCC = enterprise_codes(1)["uscc"]
MAPPING = parse_mapping(
    {
        "department": {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"},
        "tables": [
            {
                "table": "public.penalties",
                "category": "penalty",
                "key_columns": ["id"],
                "columns": {
                    "credit_code": "统一社会信用代码（企业注册号）",
                    "ent_name": "企业名称",
                    "doc_no": "行政处罚决定书文号",
                    "authority": "作出行政处罚决定机关名称",
                    "decided_on": "作出行政处罚决定日期",
                    "violation": "违法行为类型",
                    "fine": "罚款金额",
                    "kind": "处罚种类",
                },
            }
        ],
    },
    "hb.toml",
)


def row(**extra) -> dict:
    return {
        "id": 1,
        "credit_code": USCC,
        "ent_name": "西吉县某化工有限公司",
        "doc_no": "宁环罚〔2024〕12号",
        "authority": "宁夏回族自治区生态环境厅",
        "decided_on": 19786,  # DATE as days since 1970: 2024-03-04
        "violation": "超标排放",
        "fine": "20000.00",
        "kind": "罚款",
        **extra,
    }


def envelope(op="c", before=None, after=None, lsn=24023128, ts_ms=1709600000000, **source):
    return json.dumps(
        {
            "before": before,
            "after": after,
            "op": op,
            "ts_ms": ts_ms,
            "source": {
                "connector": "postgresql",
                "db": "hb",
                "schema": "public",
                "table": "penalties",
                "lsn": lsn,
                **source,
            },
        }
    ).encode()


def mapped(value: bytes, offset: int = 5):
    return map_change(parse_change(value), MAPPING, offset=offset, record_ref="src[0]@5")


def test_a_create_becomes_an_upsert_of_the_row_after():
    event = mapped(envelope("c", after=row())).outcome
    assert isinstance(event, dict), event
    assert event["operation"] == "upsert"
    assert event["adapter"] == "debezium/1"
    assert event["category"] == "penalty"
    assert event["record_key"] == "宁环罚〔2024〕12号"
    assert event["subject"]["uscc"] == USCC
    assert event["payload"]["decided_on"] == dt.date(2024, 3, 4)  # not Excel serial 19786
    assert event["payload"]["fine_amount"] == Decimal("20000.00")
    assert event["source_sequence"] == 24023128  # the WAL position: later changes win
    assert event["emitted_at"] == dt.datetime(2024, 3, 5, 0, 53, 20, tzinfo=dt.UTC)


def test_a_delete_withdraws_the_row_before_and_a_read_is_an_upsert():
    withdrawn = mapped(envelope("d", before=row())).outcome
    assert isinstance(withdrawn, dict) and withdrawn["operation"] == "withdraw"
    assert withdrawn["record_key"] == "宁环罚〔2024〕12号"
    snapshot = mapped(envelope("r", after=row())).outcome
    assert isinstance(snapshot, dict) and snapshot["operation"] == "upsert"
    assert snapshot["event_id"] == mapped(envelope("u", after=row(), lsn=99)).outcome["event_id"]


def test_a_delete_with_only_the_key_before_says_to_set_replica_identity_full():
    rejection = mapped(envelope("d", before={"id": 1})).outcome
    assert not isinstance(rejection, dict)
    assert rejection.code == "malformed_row"
    assert "REPLICA IDENTITY FULL" in rejection.message
    assert "public.penalties (id=1)" in rejection.message


def test_an_invalid_value_is_a_rejection_naming_record_field_and_expectation():
    outcome = mapped(envelope("c", after=row(credit_code="91640422MA7ABCDE1X")))
    rejection = outcome.outcome
    assert not isinstance(rejection, dict)
    assert rejection.code == "invalid_code"
    assert "src[0]@5 public.penalties (id=1)" in rejection.message
    assert outcome.fields["operation"] == "upsert"  # kept for a corrected re-drive


def test_schema_envelopes_decode_dates_and_decimals():
    fine = base64.b64encode((1234567).to_bytes(4, "big", signed=True)).decode()
    after = row(decided_on=19786, fine=fine)
    schema = {
        "type": "struct",
        "fields": [
            {"field": "before", "type": "struct", "fields": []},
            {
                "field": "after",
                "type": "struct",
                "fields": [
                    {"field": "decided_on", "type": "int32", "name": "io.debezium.time.Date"},
                    {
                        "field": "fine",
                        "type": "bytes",
                        "name": "org.apache.kafka.connect.data.Decimal",
                        "parameters": {"scale": "2"},
                    },
                ],
            },
        ],
    }
    payload = json.loads(envelope("c", after=after))
    event = mapped(json.dumps({"schema": schema, "payload": payload}).encode()).outcome
    assert isinstance(event, dict), event
    assert event["payload"]["fine_amount"] == Decimal("12345.67")
    assert event["payload"]["decided_on"] == dt.date(2024, 3, 4)


def test_timestamps_decode_by_their_unit():
    moment = dt.datetime(2024, 3, 4, 10, 30)
    millis = int((moment - dt.datetime(1970, 1, 1)).total_seconds() * 1000)
    assert decode_value(millis, "io.debezium.time.Timestamp", {}, None) == moment
    assert decode_value(millis * 1000, None, {}, "epoch_us") == moment
    assert decode_value("2024-03-04T02:30:00Z", "io.debezium.time.ZonedTimestamp", {}, None) == (
        dt.datetime(2024, 3, 4, 2, 30, tzinfo=dt.UTC)
    )


@pytest.mark.parametrize(
    ("value", "field", "code"),
    [
        (b"\xff not json", "(message)", "malformed_change"),
        (b"[1, 2]", "(message)", "malformed_change"),
        (envelope("x", after=row()), "op", "malformed_change"),
        (envelope("t"), "op", "unsupported_operation"),
        (envelope("c", after=None), "after", "malformed_change"),
        (envelope("d", before=None), "before", "malformed_change"),
    ],
)
def test_malformed_envelopes_are_refused_naming_the_part(value, field, code):
    with pytest.raises(MalformedChange) as info:
        parse_change(value)
    assert info.value.field == field
    assert info.value.code == code


def test_a_table_outside_the_mapping_is_refused_naming_the_mapped_ones():
    with pytest.raises(MalformedChange) as info:
        mapped(envelope("c", after=row(), table="licences"))
    assert info.value.code == "unmapped_table"
    assert "public.penalties" in str(info.value) and "hb.toml" in str(info.value)


def test_source_sequence_from_each_connector():
    assert source_sequence({"lsn": 42}, 7) == 42
    mysql = source_sequence({"file": "mysql-bin.000003", "pos": 154}, 7)
    assert mysql == (3 << 32) | 154
    assert mysql < source_sequence({"file": "mysql-bin.000004", "pos": 4}, 7)
    assert source_sequence({"scn": "918273"}, 7) == 918273
    assert source_sequence({"change_lsn": "00000027:00000758:0005"}, 7) == 7
    with pytest.raises(MalformedChange):
        source_sequence({"lsn": -1}, 7)
