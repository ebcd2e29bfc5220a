"""Synthetic intake events for the benchmarks: valid codes, registrations before records.

`build_intake_event` validates a row at ~6,000 rows/s, too slow to prepare the 1,000,000
registrations of the memory run. So each category's row is validated once (the template),
and every event after it re-uses the parsed payload with only its varying fields replaced —
codes, names and document numbers that are already in their parsed form. A unit test checks
that a cloned event equals what `build_intake_event` makes of the same row.

Records name their subject by USCC, so none is parked: the number of records that reach the
sinks is exactly the number of events sent, which is what the benchmark waits for.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from producers.events import build_intake_event
from producers.publisher import OutgoingRecord, intake_record
from schemas.categories import category_spec
from schemas.codec import codec_for
from schemas.identifiers import make_registration_number, make_uscc
from schemas.records import IntakeEvent

DEPARTMENT = {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"}
REGIONS = ("640422", "640104", "640202", "640302", "110105", "310115")
# Share of each record category, as in a province's monthly intake: licences and penalties
# dominate; restrictions are few but the most expensive (masking, notices).
RECORD_MIX: tuple[tuple[str, int], ...] = (
    ("license", 45),
    ("penalty", 40),
    ("restriction", 5),
    ("abnormal_operation", 10),
)
RECORDS_PER_ENTERPRISE = 4
BRAND = "鑫源泰华盛兴隆昌达通宏鼎恒瑞丰祥金银天地宝嘉佳新旺福禄明德信诚和众合美安康永润"
INDUSTRIES = ("商贸", "科技", "餐饮", "建材", "农业", "物流", "建筑工程", "食品", "文化传媒")
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司", "专业合作社")
_NAMESPACE = uuid.UUID("6f1c1e52-1d0e-4c57-9a53-3b1c7c0de8b1")
_BASE_DAY = dt.date(2024, 3, 1)


def enterprise_name(n: int) -> str:
    """A plausible, deterministic company name; distinct brands spread the search bigrams."""
    brand = BRAND[n % len(BRAND)] + BRAND[(n // len(BRAND)) % len(BRAND)]
    third = BRAND[(n // len(BRAND) ** 2) % len(BRAND)]
    return f"宁夏{brand}{third}{INDUSTRIES[n % len(INDUSTRIES)]}{SUFFIXES[n % len(SUFFIXES)]}{n}"


def enterprise_codes(n: int) -> dict[str, str]:
    """Consistent USCC, organisation code and registration number of enterprise `n`."""
    region = REGIONS[n % len(REGIONS)]
    uscc = make_uscc("9", "1", region, f"{50000000 + n:08d}")
    return {
        "uscc": uscc,
        "organisation_code": uscc[8:17],
        "registration_number": make_registration_number(region, f"{20000000 + n:08d}"),
    }


def registration_row(n: int) -> dict[str, Any]:
    codes = enterprise_codes(n)
    return {
        "subject_code": codes["uscc"],
        **codes,
        "name": enterprise_name(n),
        "registration_authority": "西吉县市场监督管理局",
        "entity_type": "有限责任公司",
        "established_on": dt.date(2015, 6, 1),
        "status": "存续",
        "legal_representative": "马某",
    }


def record_row(category: str, n: int, uscc: str, k: int) -> dict[str, Any]:
    """Row `n` of `category` about `uscc`; `k` numbers the enterprise's records (0, 1, …)."""
    subject = {"subject_code": uscc, "subject_name": "测试企业"}
    if category == "license":
        return {
            **subject,
            "license_number": f"JY1640422{n:010d}",
            "license_name": "食品经营许可证",
            "valid_from": _BASE_DAY,
            "valid_to": dt.date(2029, 2, 28),
            "licensing_authority": "西吉县市场监督管理局",
            "license_content": "预包装食品销售",
        }
    if category == "penalty":
        return {
            **subject,
            "penalising_authority": "西吉县市场监督管理局",
            "decision_number": f"西市监罚〔2024〕{n}号",
            "decided_on": _BASE_DAY,
            "violation_type": "虚假宣传",
            "fine_amount": "20000.00",
            "penalty_kind": "罚款",
        }
    if category == "restriction":
        return {
            **subject,
            "legal_basis": "《企业信息公示暂行条例》第十八条",
            "restricted_from": _BASE_DAY + dt.timedelta(days=k),
            "restricted_to": dt.date(2027, 2, 28),
            "sending_department": "市场监管局",
            "receiving_departments": "税务局、住建局",
            "information_type": "严重违法失信企业名单",
            "person_category": "法定代表人",
            "person_name": "马某",
            "id_document_type": "身份证",
            "id_document_number": "64042219800101123X",
        }
    if category == "inspection":
        return {
            **subject,
            "inspecting_authority": "西吉县市场监督管理局",
            "inspection_type": "双随机抽查",
            "inspected_on": _BASE_DAY - dt.timedelta(days=k),
            "inspection_result": "未发现问题",
        }
    if category == "abnormal_operation":
        return {
            **subject,
            "list_action": "listed",
            "reason": "未按规定报送年度报告",
            "decided_on": _BASE_DAY,
            "deciding_authority": "西吉县市场监督管理局",
            "listing_number": f"西市监异〔2024〕{n}号",
        }
    raise ValueError(f"record category {category!r}: expected one of {[c for c, _ in RECORD_MIX]}")


# Row fields that differ between events of a category; everything else is the template's.
VARYING: dict[str, tuple[str, ...]] = {
    "registration": ("uscc", "organisation_code", "registration_number", "name"),
    "license": ("license_number",),
    "penalty": ("decision_number",),
    "restriction": ("restricted_from",),
    "inspection": ("inspected_on",),
    "abnormal_operation": ("listing_number",),
}


def key_text(value: Any) -> str:
    """A key field as text, as producers.events joins them into the record key."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "、".join(value)
    return str(value)


class EventFactory:
    """Intake events built from a validated template per category (see the module doc)."""

    def __init__(self, emitted_at: dt.datetime | None = None) -> None:
        self.emitted_at = emitted_at or dt.datetime.now(dt.UTC)
        self.templates: dict[str, IntakeEvent] = {}
        for category in VARYING:
            row = (
                registration_row(0)
                if category == "registration"
                else (record_row(category, 0, enterprise_codes(0)["uscc"], 0))
            )
            self.templates[category] = validated(category, row, 0, self.emitted_at)

    def event(self, category: str, row: dict[str, Any], sequence: int) -> IntakeEvent:
        template = self.templates[category]
        payload = dict(template["payload"])
        for name in VARYING[category]:
            payload[name] = row[name]
        if category == "registration":
            subject = {k: payload[k] for k in ("uscc", "registration_number", "organisation_code")}
            subject["name"] = payload["name"]
        else:
            subject = {**template["subject"], "uscc": row["subject_code"]}
        spec = category_spec(category)
        record_key = "|".join(key_text(payload[name]) for name in spec.key_fields)
        occurred = payload.get(spec.decision_date_field) if spec.decision_date_field else None
        return {
            **template,
            # Unique per event: record keys repeat across enterprises (restriction keys are
            # basis and dates), and a repeated id would be collapsed as a re-send.
            "event_id": str(uuid.uuid5(_NAMESPACE, f"{category}:{subject['uscc']}:{record_key}")),
            "record_key": record_key,
            "subject": subject,  # type: ignore[typeddict-item]
            "payload": payload,
            "occurred_at": occurred,
            "source_sequence": sequence,
            # Instants travel as timestamp-millis: keep what the wire keeps.
            "emitted_at": self.emitted_at.replace(
                microsecond=self.emitted_at.microsecond // 1000 * 1000
            ),
        }

    def registrations(self, count: int, start: int = 0) -> Iterator[IntakeEvent]:
        for n in range(start, start + count):
            yield self.event("registration", registration_row(n), n + 1)

    def records(self, count: int, enterprises: int, start: int = 0) -> Iterator[IntakeEvent]:
        """`count` records spread over enterprises 0 … enterprises-1, in the RECORD_MIX."""
        wheel = [c for c, weight in RECORD_MIX for _ in range(weight)]
        for n in range(start, start + count):
            uscc = enterprise_codes(n % enterprises)["uscc"]
            category = wheel[(n * 37) % len(wheel)]  # 37 is prime to 100: an even spread
            row = record_row(category, n, uscc, n // enterprises)
            yield self.event(category, row, 10_000_000 + n)


def validated(category: str, row: dict[str, Any], sequence: int, emitted_at: dt.datetime) -> Any:
    event = build_intake_event(category, row, DEPARTMENT, "bench/1", sequence, emitted_at)  # type: ignore[arg-type]
    if not isinstance(event, dict):
        raise ValueError(f"bench template row of {category} rejected: {event}")
    return event


def workload(events: int, factory: EventFactory | None = None) -> list[IntakeEvent]:
    """`events` intake events: one registration per RECORDS_PER_ENTERPRISE + 1 events, then
    the records about those enterprises."""
    factory = factory or EventFactory()
    enterprises = max(1, events // (RECORDS_PER_ENTERPRISE + 1))
    return [
        *factory.registrations(enterprises),
        *factory.records(events - enterprises, enterprises),
    ]


def encoded_records(events: list[IntakeEvent], topic_prefix: str) -> list[OutgoingRecord]:
    """The Kafka records an adapter would publish for these events (batch-encoded)."""
    codec = codec_for("IntakeEvent")
    values = codec.encode_many(events)
    fingerprint = codec.fingerprint
    return [
        intake_record(e, v, fingerprint, topic_prefix) for e, v in zip(events, values, strict=True)
    ]
