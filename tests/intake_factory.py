"""Intake events for tests, built through the same validation every adapter uses."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from producers.events import build_intake_event
from producers.publisher import KafkaPublisher, intake_record
from schemas.codec import encode_intake, fingerprint_of
from schemas.identifiers import make_registration_number, make_uscc
from schemas.kafka.config import kafka_at
from schemas.records import IntakeEvent

DEPARTMENT = {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"}
_sequence = itertools.count(1)


def enterprise_codes(n: int, region: str = "640422") -> dict[str, str]:
    """A consistent set of codes for test enterprise number `n` (USCC embeds the org code)."""
    body = f"{70000000 + n:08d}"
    uscc = make_uscc("9", "1", region, body)
    return {
        "uscc": uscc,
        "organisation_code": uscc[8:17],
        "registration_number": make_registration_number(region, f"{10000000 + n:08d}"),
    }


def intake(category: str, fields: dict[str, Any], **kw: Any) -> IntakeEvent:
    """A valid intake event; fails the test loudly if the fields are rejected."""
    emitted = kw.pop("emitted_at", dt.datetime(2024, 3, 8, 9, 0, tzinfo=dt.UTC))
    event = build_intake_event(
        category,  # type: ignore[arg-type]
        fields,
        kw.pop("department", DEPARTMENT),
        "test/1",
        kw.pop("source_sequence", next(_sequence)),
        emitted,
    )
    assert isinstance(event, dict), f"test data rejected: {event}"
    return event


def registration(n: int, name: str, **extra: Any) -> IntakeEvent:
    codes = enterprise_codes(n)
    return intake(
        "registration",
        {
            "subject_code": codes["uscc"],
            "uscc": codes["uscc"],
            "registration_number": codes["registration_number"],
            "organisation_code": codes["organisation_code"],
            "name": name,
            "registration_authority": "西吉县市场监督管理局",
            "entity_type": "有限责任公司",
            "established_on": "2015-06-01",
            "status": "存续",
            "legal_representative": "马某",
            **extra,
        },
    )


def license_(subject_code: str, number: str, **extra: Any) -> IntakeEvent:
    return intake(
        "license",
        {
            "subject_code": subject_code,
            "subject_name": "测试企业",
            "license_number": number,
            "license_name": "食品经营许可证",
            "valid_from": "2024-03-01",
            "valid_to": "2029-02-28",
            "licensing_authority": "西吉县市场监督管理局",
            "license_content": "预包装食品销售",
            **extra,
        },
    )


def penalty(subject_code: str, number: str, **extra: Any) -> IntakeEvent:
    return intake(
        "penalty",
        {
            "subject_code": subject_code,
            "subject_name": "测试企业",
            "penalising_authority": "西吉县市场监督管理局",
            "decision_number": number,
            "decided_on": "2024-03-04",
            "violation_type": "虚假宣传",
            "fine_amount": "20,000.00",
            "penalty_kind": "罚款",
            **extra,
        },
    )


def restriction(subject_code: str, **extra: Any) -> IntakeEvent:
    return intake(
        "restriction",
        {
            "subject_code": subject_code,
            "subject_name": "测试企业",
            "legal_basis": "《企业信息公示暂行条例》第十八条",
            "restricted_from": "2024-03-01",
            "restricted_to": "2027-02-28",
            "sending_department": "市场监管局",
            "receiving_departments": "税务局、住建局",
            "information_type": "严重违法失信企业名单",
            "person_category": "法定代表人",
            "person_name": "马某",
            "id_document_type": "身份证",
            "id_document_number": "64042219800101123X",
            **extra,
        },
    )


def publish(bootstrap: str, events: list[IntakeEvent], prefix: str) -> int:
    with KafkaPublisher(kafka_at(bootstrap)) as publisher:
        records = []
        for event in events:
            value = encode_intake(event)
            records.append(intake_record(event, value, fingerprint_of(value), prefix))
        return publisher.publish(records)
