"""Enrichment: canonical name, region and type from the USCC, timeliness, version, no PII."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from schemas.codec import decode_enriched, encode_enriched
from schemas.identifiers import make_resident_id, make_uscc
from schemas.records import IntakeEvent, Lineage
from streams.errors import EnrichmentError
from streams.rules.enrich import enrich
from streams.rules.privacy import contains_resident_id, mask_id_number
from streams.rules.registry import RegistryEntry
from streams.rules.versioning import record_version

KEY = b"test-key"
USCC = make_uscc("9", "1", "640422", "MA76Y5XX")
PERSON = make_resident_id("640422", dt.date(1980, 5, 17), "123")
LINEAGE = Lineage(topic="credit.intake.restriction", partition=0, offset=7, schema_fingerprint="ab")
PROCESSED = dt.datetime(2024, 3, 5, 2, 0, tzinfo=dt.UTC)
ENTRY = RegistryEntry(
    USCC, None, USCC[8:17], "宁夏丰源农业科技有限公司", ["西吉县丰源农业有限公司"]
)


def restriction(**payload: Any) -> IntakeEvent:
    fields: dict[str, Any] = {
        "legal_basis": "《企业信息公示暂行条例》第十七条",
        "restricted_from": dt.date(2024, 2, 7),
        "restricted_to": dt.date(2027, 2, 6),
        "sending_department": "宁夏回族自治区市场监督管理厅",
        "receiving_departments": ["国家税务总局宁夏回族自治区税务局", "宁夏回族自治区高级人民法院"],
        "information_type": "严重违法失信企业名单",
        "person_category": "法定代表人",
        "person_name": "张三",
        "id_document_type": "居民身份证",
        "id_document_number": PERSON,
    }
    fields.update(payload)
    return IntakeEvent(
        event_id="6f1c1f7e-8a53-4c61-9d6a-3f0d3c1b2a10",
        category="restriction",
        operation="upsert",
        department={"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"},
        record_key="严重违法失信企业名单|《企业信息公示暂行条例》第十七条|2024-02-07",
        subject={
            "uscc": USCC,
            "registration_number": None,
            "organisation_code": None,
            "name": "西吉县丰源农业有限公司",
        },
        occurred_at=dt.date(2024, 2, 7),
        emitted_at=dt.datetime(2024, 2, 22, 1, 0, tzinfo=dt.UTC),
        source_sequence=42,
        adapter="http/1",
        payload=fields,
    )


def test_enriched_record_fields() -> None:
    event = restriction()
    record = enrich(event, USCC, ENTRY, LINEAGE, PROCESSED, KEY, "public")
    assert record["uscc"] == USCC
    assert record["canonical_name"] == "宁夏丰源农业科技有限公司"  # the registry's current name
    assert record["entity_type"] == "企业"
    assert record["region"] == {
        "code": "640422",
        "province": "宁夏回族自治区",
        "prefecture": "固原市",
        "county": "西吉县",
    }
    # 7 Feb → 22 Feb 2024 is 7 working days across the Spring Festival.
    assert record["timeliness"] == {
        "working_days": 7,
        "deadline_working_days": 7,
        "deadline_met": True,
    }
    assert record["version"] == record_version(42, event["emitted_at"], event["event_id"])
    assert (record["processed_at"], record["lineage"]) == (PROCESSED, LINEAGE)
    assert record["publication_status"] == "public"


def test_the_raw_id_number_never_appears() -> None:
    record = enrich(restriction(), USCC, ENTRY, LINEAGE, PROCESSED, KEY, "public")
    text = json.dumps(record, default=str, ensure_ascii=False)
    assert PERSON not in text
    assert not contains_resident_id(text)
    assert record["payload"]["id_document_number_masked"] == mask_id_number(PERSON)
    assert len(record["payload"]["id_document_number_hash"]) == 64


def test_name_sent_when_the_registry_has_none() -> None:
    record = enrich(restriction(), USCC, None, LINEAGE, PROCESSED, KEY, "public")
    assert record["canonical_name"] == "西吉县丰源农业有限公司"


def test_decision_date_from_the_payload_when_occurred_at_is_missing() -> None:
    event = restriction()
    event["occurred_at"] = None
    record = enrich(event, USCC, None, LINEAGE, PROCESSED, KEY, "public")
    assert record["timeliness"]["working_days"] == 7


def test_an_id_number_in_free_text_fails_the_record_naming_the_field() -> None:
    event = restriction(legal_description=f"法定代表人张三（{PERSON}）拒不履行")
    with pytest.raises(
        EnrichmentError, match=r"payload\.legal_description contains a full resident"
    ):
        enrich(event, USCC, None, LINEAGE, PROCESSED, KEY, "public")


def test_a_bad_uscc_is_refused() -> None:
    with pytest.raises(EnrichmentError, match="resolved USCC"):
        enrich(restriction(), USCC[:-1] + "0", None, LINEAGE, PROCESSED, KEY, "public")


def test_enriched_record_fits_the_published_avro_schema() -> None:
    record = enrich(restriction(), USCC, ENTRY, LINEAGE, PROCESSED, KEY, "public")
    decoded = decode_enriched(encode_enriched(record))
    # Fields the department left out come back as None (null in Avro).
    assert decoded["payload"] == {"legal_description": None, **record["payload"]}
    assert decoded["version"] == record["version"]


def test_a_record_sent_under_a_legacy_code_gets_the_name_from_the_lean_alias() -> None:
    from streams.rules.triage import alias_snapshot, triage_intake

    alias = alias_snapshot(ENTRY)
    assert alias == {"uscc": USCC, "name": "宁夏丰源农业科技有限公司"}  # nothing else kept
    event = restriction(id_document_number=mask_id_number(PERSON))
    event["subject"] = {
        "uscc": None, "registration_number": None, "organisation_code": USCC[8:17],
        "name": "西吉县丰源农业有限公司",
    }  # fmt: skip
    decision = triage_intake(
        event,
        lineage=LINEAGE,
        registry_get=lambda code: None,  # the USCC's entry lives in another partition
        alias_get={USCC[8:17]: alias}.get,
        processed_at=PROCESSED,
        pii_key=KEY,
    )
    assert decision.reject is None and decision.emit is not None
    assert decision.emit["uscc"] == USCC
    assert decision.emit["canonical_name"] == "宁夏丰源农业科技有限公司"


@pytest.mark.security
def test_an_envelope_that_does_not_open_refuses_the_record_instead_of_stopping_the_stage() -> None:
    forged = "enc:v1:k1:" + "A" * 40  # shaped as an envelope; no key opens it
    with pytest.raises(EnrichmentError, match="证件号码 cannot be read"):
        event = restriction(id_document_number=forged)
        enrich(event, USCC, None, LINEAGE, PROCESSED, KEY, "public")
