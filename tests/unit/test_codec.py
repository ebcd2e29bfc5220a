"""The codec: round trips of every category, the pinned wire format, typed failures."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import default_catalog
from schemas.categories import CATEGORIES, CATEGORY_SPECS, PERSONAL_ID_CATEGORIES, FieldSpec
from schemas.codec import (
    MAGIC,
    codec_for,
    decode_enriched,
    decode_intake,
    encode_enriched,
    encode_intake,
    fingerprint_of,
)
from schemas.errors import CorruptRecord, InvalidRecord, SchemaError, UnknownSchema
from schemas.identifiers import make_uscc

UTC = dt.UTC
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
dates = st.dates(dt.date(1949, 10, 1), dt.date(2100, 12, 31))
# timestamp-millis: instants are UTC and carry milliseconds, no finer.
instants = st.datetimes(
    dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
money = st.decimals(
    min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=2, allow_nan=False
)
_BY_KIND = {"text": text, "code": text, "date": dates, "money": money, "names": st.lists(text)}


def _field_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    value = _BY_KIND[spec.kind]
    return value if spec.required else st.none() | value


def payloads(category: str, published: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    fields = {f.name: _field_value(f) for f in CATEGORY_SPECS[category].fields}
    if published and category in PERSONAL_ID_CATEGORIES:
        del fields["id_document_number"]
        fields["id_document_number_masked"] = st.none() | text
        fields["id_document_number_hash"] = st.none() | text
    return st.fixed_dictionaries(fields)


def subjects() -> st.SearchStrategy[dict[str, Any]]:
    code = st.none() | text
    return st.fixed_dictionaries(
        {"uscc": text.filter(bool), "registration_number": code, "organisation_code": code,
         "name": code}
    )  # fmt: skip


def envelope(category: str) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "event_id": st.uuids().map(str),
        "category": st.just(category),
        "operation": st.sampled_from(["upsert", "withdraw"]),
        "department": st.fixed_dictionaries({"code": text, "name": text}),
        "record_key": text,
        "subject": subjects(),
        "occurred_at": st.none() | dates,
        "emitted_at": instants,
        "source_sequence": st.integers(-(2**63), 2**63 - 1),
        "adapter": text,
    }


def intake_events(category: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            **envelope(category),
            "payload": payloads(category),
            # IntakeEvent v3 (issue #17)
            "backfill": st.booleans(),
            "networked": st.booleans(),
        }
    )


def enriched_records(category: str) -> st.SearchStrategy[dict[str, Any]]:
    optional = st.none() | text
    return st.fixed_dictionaries(
        {
            **envelope(category),
            "uscc": text,
            "canonical_name": text,
            "entity_type": text,
            "region": st.fixed_dictionaries(
                {"code": text, "province": optional, "prefecture": optional, "county": optional}
            ),
            "processed_at": instants,
            "version": text,
            "publication_status": st.sampled_from(
                ["public", "under_review", "expired", "repaired", "removed", "withdrawn"]
            ),
            "timeliness": st.fixed_dictionaries(
                {
                    "working_days": st.none() | st.integers(-(2**31), 2**31 - 1),
                    "deadline_working_days": st.none() | st.integers(0, 100),
                    "deadline_met": st.none() | st.booleans(),
                }
            ),
            "lineage": st.fixed_dictionaries(
                {
                    "topic": text,
                    "partition": st.integers(0, 2**31 - 1),
                    "offset": st.integers(0, 2**63 - 1),
                    "schema_fingerprint": text,
                }
            ),
            "payload": payloads(category, published=True),
            # EnrichedRecord v3 (issue #17)
            "backfill": st.booleans(),
            "ended_on": st.none() | st.dates(),
            "end_reason": st.none() | text,
        }
    )


@pytest.mark.parametrize("category", CATEGORIES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_intake_round_trip(category: str, data: st.DataObject) -> None:
    event = data.draw(intake_events(category))
    assert decode_intake(encode_intake(event)) == event  # type: ignore[arg-type]


@pytest.mark.parametrize("category", CATEGORIES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_enriched_round_trip(category: str, data: st.DataObject) -> None:
    record = data.draw(enriched_records(category))
    assert decode_enriched(encode_enriched(record)) == record  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(CATEGORIES).flatmap(intake_events), max_size=8))
def test_batch_round_trip_equals_single(events: list[dict[str, Any]]) -> None:
    codec = codec_for("IntakeEvent")
    encoded = codec.encode_many(events)
    assert encoded == [encode_intake(e) for e in events]  # type: ignore[arg-type]
    assert codec.decode_many(encoded) == events


# --- the pinned wire format ------------------------------------------------------------


def golden_event() -> dict[str, Any]:
    return {
        "event_id": "5f0c7a52-5b2e-4f53-9d0b-0c2a5e0f6a11",
        "category": "penalty",
        "operation": "upsert",
        "department": {"code": "scjg-640000", "name": "市场监管厅"},
        "record_key": "宁市监罚〔2024〕12号",
        "subject": {
            "uscc": make_uscc("9", "1", "640422", "MA76XK2Y"),
            "registration_number": None,
            "organisation_code": None,
            "name": "西吉县某公司",
        },
        "occurred_at": dt.date(2024, 3, 1),
        "emitted_at": dt.datetime(2024, 3, 4, 8, 30, 0, 123000, tzinfo=UTC),
        "source_sequence": 42,
        "adapter": "spreadsheet/1",
        "payload": {
            "penalising_authority": "西吉县市场监督管理局",
            "decision_number": "宁市监罚〔2024〕12号",
            "decided_on": dt.date(2024, 3, 1),
            "violation_type": "虚假宣传",
            "fine_amount": Decimal("5000.00"),
            "confiscation_amount": None,
            "penalty_kind": "罚款",
            "remarks": None,
            "penalty_basis": "《广告法》第五十五条",
        },
    }


# IntakeEvent v2: 0xC3 0x01, the fingerprint, then the body. If this changes, the wire form
# changed: that needs a new kept version, never an edit of this constant.
GOLDEN_INTAKE_HEX = (
    "c30170121695c3ab33b84835663063376135322d356232652d346635332d396430622d3063326135"
    "6530663661313106001673636a672d3634303030301ee5b882e59cbae79b91e7aea1e58e8536e5ae"
    "81e5b882e79b91e7bd9ae3809432303234e380953132e58fb7022439313634303432324d41373658"
    "4b3259305900000224e8a5bfe59089e58ebfe69f90e585ace58fb8028eb502f68eac89c163541a73"
    "707265616473686565742f31063ce8a5bfe59089e58ebfe5b882e59cbae79b91e79da3e7aea1e790"
    "86e5b18036e5ae81e5b882e79b91e7bd9ae3809432303234e380953132e58fb78eb50218e8999ae5"
    "8187e5aea3e4bca0020607a120000ce7bd9ae6acbe00023ce3808ae5b9bfe5918ae6b395e3808be7"
    "acace4ba94e58d81e4ba94e69da1"
)


# IntakeEvent v3 (issue #17's categories appended to the enum and the payload union, then
# backfill and networked at the end): v2's body plus the two booleans; the new branches come
# after the old ones, so the old records' bytes are unchanged.
GOLDEN_INTAKE_V3_FINGERPRINT = "35c63cffac7cf804"


def test_golden_bytes_pin_the_wire_format() -> None:
    # v2's bytes stay pinned (written with the kept v2 schema); the codec now writes v3
    # (issue #17: backfill, networked), which is v2's body followed by the two booleans.
    v2 = _write_with("IntakeEvent", 2, golden_event())
    assert v2.hex() == GOLDEN_INTAKE_HEX
    encoded = encode_intake({**golden_event(), "backfill": True, "networked": False})
    assert encoded.hex() == "c301" + GOLDEN_INTAKE_V3_FINGERPRINT + GOLDEN_INTAKE_HEX[20:] + "0100"
    assert encoded[:2] == MAGIC
    assert fingerprint_of(encoded) == default_catalog().version("IntakeEvent", 3).fingerprint
    assert decode_intake(v2)["backfill"] is False  # older data reads with the defaults


# --- older writers, foreign and broken bytes ---------------------------------------------


def _write_with(record_type: str, version: int, record: dict[str, Any]) -> bytes:
    kept = default_catalog().version(record_type, version)
    buf = io.BytesIO(MAGIC + kept.fingerprint_bytes)
    buf.seek(0, io.SEEK_END)
    schemaless_writer(buf, kept.parsed, record)
    return buf.getvalue()


def test_v1_intake_reads_as_newest_with_new_field_null() -> None:
    event = golden_event()
    v1_payload = {k: v for k, v in event["payload"].items() if k != "penalty_basis"}
    data = _write_with(
        "IntakeEvent", 1, {**event, "payload": ("creditsync.payload.Penalty", v1_payload)}
    )
    decoded = decode_intake(data)
    assert decoded["payload"] == {**v1_payload, "penalty_basis": None}
    assert fingerprint_of(data) == default_catalog().version("IntakeEvent", 1).fingerprint


def test_enriched_bytes_are_not_an_intake_event() -> None:
    with pytest.raises(UnknownSchema, match="written as EnrichedRecord"):
        decode_intake(encode_enriched(enriched_restriction()))  # type: ignore[arg-type]
    with pytest.raises(UnknownSchema, match="written as Penalty v2"):
        decode_intake(_write_with("Penalty", 2, golden_event()["payload"]))


@pytest.mark.parametrize(
    ("mangle", "error", "reason"),
    [
        (lambda b: b"", CorruptRecord, "not Avro single-object encoding"),
        (lambda b: b"\x00\x00\x00\x00\x01" + b[10:], CorruptRecord, "expected 0xC3 0x01"),
        (lambda b: b[:2] + bytes(8) + b[10:], UnknownSchema, "0000000000000000 is not in the"),
        (lambda b: b[:-5], CorruptRecord, "body does not decode as IntakeEvent v3"),
        (lambda b: b + b"\x00", CorruptRecord, "1 trailing bytes"),
        (lambda b: b[:10] + b"\xff" * 40, CorruptRecord, "body does not decode"),
    ],
)
def test_broken_bytes_raise_typed_errors(mangle, error: type[SchemaError], reason: str) -> None:
    with pytest.raises(error, match=reason):
        decode_intake(mangle(encode_intake(golden_event())))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e["payload"].update(fine=1), "payload (penalty): unknown field(s) fine"),
        (lambda e: e["payload"].pop("penalty_kind"), "penalty_kind"),
        (lambda e: e.update(category="tax"), "category: 'tax' is not one of"),
        (lambda e: e.update(event_id="42"), "event_id: '42' is not a UUID"),
        (lambda e: e["payload"].update(fine_amount=Decimal("1.005")), "Scale"),
        (lambda e: e.update(subject={**e["subject"], "uscc": None}), "at least one of uscc"),
        (lambda e: e.update(uscc="x"), "unknown field(s) uscc"),
    ],
)
def test_invalid_records_name_the_field(change, reason: str) -> None:
    event = golden_event()
    change(event)
    with pytest.raises(InvalidRecord, match=reason.replace("(", r"\(").replace(")", r"\)")) as e:
        encode_intake(event)  # type: ignore[arg-type]
    assert e.value.record_type == "IntakeEvent"


def enriched_restriction() -> dict[str, Any]:
    event = golden_event()
    return {
        **{k: v for k, v in event.items() if k != "payload"},
        "category": "restriction",
        "uscc": event["subject"]["uscc"],
        "canonical_name": "西吉县某公司",
        "entity_type": "企业",
        "region": {"code": "640422", "province": "宁夏回族自治区", "prefecture": "固原市",
                   "county": "西吉县"},
        "processed_at": dt.datetime(2024, 3, 4, 8, 30, 1, tzinfo=UTC),
        "version": "00000000000000000042:1709541000123:5f0c7a52",
        "publication_status": "public",
        "timeliness": {"working_days": 1, "deadline_working_days": 7, "deadline_met": True},
        "lineage": {"topic": "credit.intake.restriction", "partition": 0, "offset": 7,
                    "schema_fingerprint": "70121695c3ab33b8"},
        "payload": {
            "legal_basis": "《企业信息公示暂行条例》",
            "legal_description": None,
            "restricted_from": dt.date(2024, 3, 1),
            "restricted_to": dt.date(2027, 2, 28),
            "sending_department": "市场监管厅",
            "receiving_departments": ["税务局", "住建厅"],
            "information_type": "严重违法失信企业名单",
            "person_category": "法定代表人",
            "person_name": "张三",
            "id_document_type": "居民身份证",
            "id_document_number_masked": "640422********1235",
            "id_document_number_hash": "9f" * 32,
        },
    }  # fmt: skip


def test_enriched_restriction_round_trips_without_raw_id_number() -> None:
    record = enriched_restriction()
    expected = {**record, "backfill": False, "ended_on": None, "end_reason": None}
    assert decode_enriched(encode_enriched(record)) == expected  # type: ignore[arg-type]
    published = default_catalog().newest("PublishedRestriction").schema
    assert "id_document_number" not in {f["name"] for f in published["fields"]}
    record["payload"]["id_document_number"] = "640422198005171235"
    with pytest.raises(InvalidRecord, match=r"payload \(restriction\): unknown field\(s\) id_doc"):
        encode_enriched(record)  # type: ignore[arg-type]
