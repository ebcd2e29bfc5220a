"""Row mapping for ClickHouse: version numbers, typed columns, privacy, dedup tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinks.clickhouse import operations, rows
from sinks.errors import RecordMappingError
from streams.rules.versioning import record_version
from tests.factories import make_enriched

_instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


@given(
    st.tuples(st.integers(0, 2**63), _instants, st.uuids()),
    st.tuples(st.integers(0, 2**63), _instants, st.uuids()),
)
def test_version_number_orders_like_the_version_string(a, b) -> None:
    ra, rb = ({"event_id": str(e), "source_sequence": s, "emitted_at": t} for s, t, e in (a, b))
    va, vb = (
        record_version(r["source_sequence"], r["emitted_at"], r["event_id"]) for r in (ra, rb)
    )
    na, nb = rows.version_number(ra), rows.version_number(rb)  # type: ignore[arg-type]
    assert (va < vb) == (na < nb)
    assert (va == vb) == (na == nb)
    assert na < 2**256


def test_version_number_keeps_text_order_of_non_uuid_ids() -> None:
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    low = rows.version_number({"event_id": "file-a", "source_sequence": 3, "emitted_at": at})
    high = rows.version_number({"event_id": "file-b", "source_sequence": 3, "emitted_at": at})
    assert low < high


def test_version_number_names_the_record_and_field_when_sequence_is_negative() -> None:
    record = make_enriched("penalty", source_sequence=-1, version="x")
    with pytest.raises(RecordMappingError, match=r"record .*'source_sequence'.*\[0, 2\*\*64\)"):
        rows.version_number(record)


def test_penalty_row_has_typed_columns_and_lineage() -> None:
    record = make_enriched("penalty", payload={"fine_amount": "5000", "decided_on": "2024-03-08"})
    row = rows.category_row(record)
    assert row["fine_amount"] == Decimal("5000.00")
    assert row["decided_on"] == dt.date(2024, 3, 8)
    assert row["remarks"] == ""  # optional text: empty string, not NULL
    assert row["confiscation_amount"] == Decimal("120.50")
    assert row["kafka_topic"] == "credit.records"
    assert row["department_code"] == "scjg-640000"
    assert row["region_code"] == "640422"
    assert row["deadline_met"] is True
    assert set(rows.COMMON_COLUMNS) <= set(row)


def test_restriction_row_keeps_only_the_hash_of_the_id_number() -> None:
    record = make_enriched("restriction")
    row = rows.category_row(record)
    raw = rows.raw_row(record)
    assert row["id_document_number_hash"] == record["payload"]["id_document_number_hash"]
    assert "id_document_number" not in row and "id_document_number_masked" not in row
    assert "640422********1234" not in raw["payload_json"]
    assert row["receiving_departments"] == record["payload"]["receiving_departments"]


def test_bad_money_is_reported_with_record_field_and_expectation() -> None:
    record = make_enriched("penalty", payload={"fine_amount": "五千元"})
    with pytest.raises(RecordMappingError) as info:
        rows.category_row(record)
    message = str(info.value)
    assert record["event_id"] in message
    assert "'fine_amount'" in message and "amount in yuan" in message


def test_bad_date_is_reported() -> None:
    record = make_enriched("license", payload={"valid_from": "2024/03/08"})
    with pytest.raises(RecordMappingError, match=r"'valid_from': expected a date"):
        rows.category_row(record)


def test_registration_maps_to_entities_with_both_types() -> None:
    record = make_enriched("registration")
    entity, names = rows.entity_rows(record)
    assert entity["entity_type"] == "企业"
    assert entity["registered_type"] == "有限责任公司（自然人投资或控股）"
    assert entity["established_on"] == dt.date(2012, 5, 17)
    assert names["name"] == record["payload"]["name"]
    assert set(rows.rows_for(record)) == {"records_raw", "entities", "entity_names"}


def test_workflow_records_go_to_records_raw_only() -> None:
    assert set(rows.rows_for(make_enriched("objection"))) == {"records_raw"}


def test_deduplication_token_is_stable_and_content_sensitive() -> None:
    batch = [rows.raw_row(make_enriched("penalty")) for _ in range(3)]
    assert rows.deduplication_token("t", batch) == rows.deduplication_token("t", list(batch))
    assert rows.deduplication_token("t", batch) != rows.deduplication_token("u", batch)
    assert rows.deduplication_token("t", batch) != rows.deduplication_token("t", batch[:2])


def test_control_total_rows_with_same_count_get_different_tokens() -> None:
    at = dt.datetime(2024, 6, 3, tzinfo=dt.UTC)
    a = operations.control_total_row(
        {"department_code": "a", "day": dt.date(2024, 6, 3), "category": "penalty",
         "declared": 5, "batch_id": "f1", "reported_at": at}
    )  # fmt: skip
    b = dict(a, declared=6)
    assert rows.deduplication_token("c", [a]) != rows.deduplication_token("c", [b])


def test_notice_versions_only_grow_as_the_notice_moves_forward() -> None:
    base = {"notice_id": str(uuid.uuid4()), "department_name": "税务局", "uscc": "x",
            "initiated_on": "2024-06-03", "stage": "initiated"}  # fmt: skip
    initiated = operations.notice_row(base)
    responded = operations.notice_row({**base, "stage": "responded", "responded_on": "2024-06-05"})
    fed_back = operations.notice_row(
        {**base, "stage": "fed_back", "responded_on": "2024-06-05", "fed_back_on": "2024-06-09"}
    )
    assert initiated["row_version"] < responded["row_version"] < fed_back["row_version"]
    assert fed_back["fed_back_on"] == dt.date(2024, 6, 9)


def test_notice_with_unknown_stage_is_refused() -> None:
    with pytest.raises(RecordMappingError, match=r"'stage': expected initiated, responded"):
        operations.notice_row(
            {"notice_id": "n", "department_name": "d", "uscc": "u",
             "initiated_on": "2024-06-03", "stage": "closed"}
        )  # fmt: skip


def test_deduplication_token_tells_apart_records_processed_again() -> None:
    # The same event id and version processed again (a crash before the offset commit) is a
    # new processing time: its rows must not be dropped as a retry of the first insert.
    first = make_enriched("penalty")
    again = dict(first, processed_at=first["processed_at"] + dt.timedelta(seconds=1))
    moved = dict(first, lineage=dict(first["lineage"], offset=first["lineage"]["offset"] + 1))
    tokens = {rows.deduplication_token("t", [rows.raw_row(r)]) for r in (first, again, moved)}
    assert len(tokens) == 3
