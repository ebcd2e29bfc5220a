"""Realistic, valid `EnrichedRecord`s for tests: stdnum-valid codes, category payloads."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid
from decimal import Decimal
from typing import Any

from stdnum.cn import uscc as stdnum_uscc
from stdnum.iso7064 import mod_11_10

from schemas.records import EnrichedRecord
from streams.rules.versioning import record_version

UTC = dt.UTC
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_serial = itertools.count(1)

REGIONS: dict[str, tuple[str, str, str]] = {
    "640422": ("宁夏回族自治区", "固原市", "西吉县"),
    "640104": ("宁夏回族自治区", "银川市", "兴庆区"),
    "110105": ("北京市", "市辖区", "朝阳区"),
}


def organisation_code(body: str) -> str:
    """GB 11714: 8 body chars and the mod-11 check char (10 → X, 11 → 0)."""
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_codes(n: int | None = None, region: str = "640422") -> dict[str, str]:
    """A consistent (uscc, organisation_code, registration_number) triple for serial `n`."""
    n = next(_serial) if n is None else n
    org = organisation_code(f"{n:08d}"[-8:].replace("I", "J"))
    body17 = f"91{region}{org}"
    uscc = body17 + stdnum_uscc.calc_check_digit(body17)
    reg14 = f"{region}{n:08d}"[-14:]
    return {
        "uscc": uscc,
        "organisation_code": org,
        "registration_number": reg14 + mod_11_10.calc_check_digit(reg14),
    }


def default_payload(category: str, n: int) -> dict[str, Any]:
    day = dt.date(2024, 3, 1) + dt.timedelta(days=n % 200)
    payloads: dict[str, dict[str, Any]] = {
        "registration": {
            "uscc": None,  # filled from the codes below
            "registration_number": None,
            "organisation_code": None,
            "name": f"宁夏西吉县测试商贸有限公司{n}",
            "registration_authority": "西吉县市场监督管理局",
            "entity_type": "有限责任公司（自然人投资或控股）",
            "established_on": dt.date(2012, 5, 17),
            "status": "存续",
            "legal_representative": "马建国",
        },
        "license": {
            "license_number": f"JY16404220{n:06d}",
            "license_name": "食品经营许可证",
            "valid_from": day,
            "valid_to": day + dt.timedelta(days=5 * 365),
            "licensing_authority": "西吉县市场监督管理局",
            "license_content": "预包装食品销售",
            "status": "有效",
            "details": None,
        },
        "license_change": {
            "license_number": f"JY16404220{n:06d}",
            "license_name": "食品经营许可证",
            "change_item": "经营场所",
            "content_before": "西吉县吉强镇建设路1号",
            "content_after": "西吉县吉强镇建设路8号",
            "changed_on": day,
        },
        "penalty_change": {
            "decision_number": f"西市监罚〔2024〕{n}号",
            "changing_authority": "西吉县市场监督管理局",
            "change_content": "罚款金额变更为3000元",
            "changed_on": day,
        },
        "penalty": {
            "penalising_authority": "西吉县市场监督管理局",
            "decision_number": f"西市监罚〔2024〕{n}号",
            "decided_on": day,
            "violation_type": "销售不符合食品安全标准的食品",
            "fine_amount": Decimal("5000.00"),
            "confiscation_amount": Decimal("120.50"),
            "penalty_kind": "罚款;没收违法所得",
            "remarks": None,
        },
        "inspection": {
            "inspecting_authority": "西吉县市场监督管理局",
            "inspection_type": "定向抽查",
            "inspected_on": day,
            "inspection_result": "未发现问题",
        },
        "restriction": {
            "legal_basis": "《企业信息公示暂行条例》第十七条",
            "legal_description": "提交虚假材料取得登记",
            "restricted_from": day,
            "restricted_to": day + dt.timedelta(days=3 * 365),
            "sending_department": "宁夏回族自治区市场监督管理厅",
            "receiving_departments": [
                "国家税务总局宁夏回族自治区税务局",
                "宁夏回族自治区住房和城乡建设厅",
            ],
            "information_type": "严重违法失信企业名单",
            "person_category": "法定代表人",
            "person_name": "马建国",
            "id_document_type": "居民身份证",
            "id_document_number_masked": "640422********1234",
            "id_document_number_hash": hashlib.sha256(b"640422199001011234").hexdigest(),
        },
        "abnormal_operation": {
            "list_action": "listed",
            "reason": "未按规定报送年度报告",
            "decided_on": day,
            "deciding_authority": "西吉县市场监督管理局",
            "listing_number": f"西市监异〔2024〕{n}号",
        },
        "red_list": {
            "honour_name": "守合同重信用企业",
            "awarding_authority": "宁夏回族自治区市场监督管理厅",
            "awarded_on": day,
            "valid_to": None,
            "details": None,
        },
        "chattel_mortgage": {
            "mortgage_number": f"宁市监动抵〔2024〕{n}号",
            "registered_on": day,
            "registering_authority": "西吉县市场监督管理局",
            "secured_amount": Decimal("1500000.00"),
            "status": "有效",
            "secured_claim_kind": "借款合同",
            "mortgagee": "宁夏银行股份有限公司西吉支行",
            "collateral": "挖掘机2台",
            "published_on": day,
        },
        "equity_pledge": {
            "pledge_number": f"640422202400{n:04d}",
            "pledgor": "马建国",
            "id_document_type": "居民身份证",
            "id_document_number_masked": "640422********1234",
            "id_document_number_hash": hashlib.sha256(b"640422199001011234").hexdigest(),
            "pledged_amount": Decimal("500000.00"),
            "pledgee": "宁夏银行股份有限公司西吉支行",
            "registered_on": day,
            "status": "有效",
            "published_on": day,
            "changes": None,
        },
        "judicial_assistance": {
            "notice_number": f"（2024）宁0422执{n}号",
            "assistance_type": "股权冻结",
            "assistance_status": "冻结",
            "debtor": "马建国",
            "id_document_type": "居民身份证",
            "id_document_number_masked": "640422********1234",
            "id_document_number_hash": hashlib.sha256(b"640422199001011234").hexdigest(),
            "equity_amount": Decimal("300000.00"),
            "enforcing_court": "西吉县人民法院",
            "ruling_number": f"（2024）宁0422执{n}号之一",
            "enforcement_item": "冻结股权、其他投资权益",
            "executed_on": day,
            "frozen_from": day,
            "frozen_to": day + dt.timedelta(days=3 * 365),
            "unfrozen_on": None,
            "transferee": None,
            "published_on": day,
        },
        "small_business_support": {
            "supporting_department": "西吉县财政局",
            "support_type": "财政补贴",
            "support_content": "小微企业创业补贴",
            "support_amount": Decimal("20000.00"),
            "implemented_on": day,
            "policy_basis": None,
        },
        "tax_credit_rating": {
            "evaluation_year": "2023",
            "credit_grade": "A",
            "evaluating_authority": "国家税务总局西吉县税务局",
            "published_on": day,
        },
        "notice_feedback": {
            "notice_id": f"notice-{n}",
            "receiving_department": "国家税务总局宁夏回族自治区税务局",
            "feedback_stage": "responded",
            "measures": "限制领用发票",
            "feedback_on": day,
        },
        "objection": {
            "target_category": "penalty",
            "target_record_key": f"西市监罚〔2024〕{n}号",
            "objection_status": "open",
            "reason": "处罚对象有误",
            "filed_on": day,
        },
    }
    return dict(payloads[category])


_KEY_FIELDS = {
    "registration": lambda p, c: c["uscc"],
    "license": lambda p, c: p["license_number"],
    "penalty": lambda p, c: p["decision_number"],
    "license_change": lambda p, c: f"{p['license_number']}|{p['change_item']}|{p['changed_on']}",
    "penalty_change": lambda p, c: f"{p['decision_number']}|{p['changed_on']}",
    "inspection": lambda p, c: (
        f"{p['inspecting_authority']}|{p['inspection_type']}|{p['inspected_on']}"
    ),
    "restriction": lambda p, c: (
        f"{p['information_type']}|{p['legal_basis']}|{p['restricted_from']}"
    ),
    "abnormal_operation": lambda p, c: f"{p['deciding_authority']}|{p['reason']}|{p['decided_on']}",
    "red_list": lambda p, c: f"{p['honour_name']}|{p['awarded_on']}",
    "notice_feedback": lambda p, c: (
        f"{p['notice_id']}|{p['receiving_department']}|{p['feedback_stage']}"
    ),
    "objection": lambda p, c: f"{p['target_category']}|{p['target_record_key']}|{p['filed_on']}",
    "chattel_mortgage": lambda p, c: p["mortgage_number"],
    "equity_pledge": lambda p, c: p["pledge_number"],
    "judicial_assistance": lambda p, c: p["notice_number"],
    "small_business_support": lambda p, c: (
        f"{p['supporting_department']}|{p['support_type']}|{p['implemented_on']}"
    ),
    "tax_credit_rating": lambda p, c: p["evaluation_year"],
}


def make_enriched(category: str, **overrides: Any) -> EnrichedRecord:
    """A valid record of `category`; `n` picks the enterprise, `payload` is merged, other
    keyword arguments replace top-level fields. The version follows the contract unless given."""
    n = overrides.pop("n", None)
    n = next(_serial) if n is None else n
    region = overrides.pop("region_code", "640422")
    codes = make_codes(n, region)
    payload = default_payload(category, n)
    if category == "registration":
        payload.update(codes)
    payload.update(overrides.pop("payload", {}))
    event_id = overrides.get("event_id") or str(uuid.uuid4())
    seq = overrides.get("source_sequence", 1)
    emitted_at = overrides.get("emitted_at") or dt.datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    province, prefecture, county = REGIONS.get(region, (None, None, None))
    name = payload.get("name") if category == "registration" else None
    record: dict[str, Any] = {
        "event_id": event_id,
        "category": category,
        "operation": "upsert",
        "department": {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"},
        "record_key": _KEY_FIELDS[category](payload, codes),
        "subject": {
            "uscc": codes["uscc"],
            "registration_number": None,
            "organisation_code": None,
            "name": None,
        },
        "uscc": codes["uscc"],
        "canonical_name": name or f"宁夏西吉县测试商贸有限公司{n}",
        "entity_type": "企业",
        "region": {
            "code": region,
            "province": province,
            "prefecture": prefecture,
            "county": county,
        },
        "occurred_at": None,
        "emitted_at": emitted_at,
        "processed_at": emitted_at + dt.timedelta(seconds=2),
        "source_sequence": seq,
        "version": "",
        "adapter": "spreadsheet/1",
        "publication_status": "public",
        "timeliness": {"working_days": 3, "deadline_working_days": 7, "deadline_met": True},
        "lineage": {
            "topic": "credit.records",
            "partition": 0,
            "offset": n,
            "schema_fingerprint": "a1b2c3d4e5f60718",
        },
        "payload": payload,
        # EnrichedRecord v3 (issue #17): what decoding fills in when a record has no value.
        "backfill": False,
        "ended_on": None,
        "end_reason": None,
    }
    record.update(overrides)
    if not record["version"]:
        record["version"] = record_version(
            record["source_sequence"], record["emitted_at"], record["event_id"]
        )
    return record  # type: ignore[return-value]


def newer(record: EnrichedRecord, **overrides: Any) -> EnrichedRecord:
    """The next version of the same item (same key), with a fresh event id."""
    out = dict(record)
    payload = dict(record["payload"])
    payload.update(overrides.pop("payload", {}))
    out["payload"] = payload
    out["event_id"] = str(uuid.uuid4())
    out["source_sequence"] = record["source_sequence"] + 1
    out.update(overrides)
    out["version"] = record_version(out["source_sequence"], out["emitted_at"], out["event_id"])
    return out  # type: ignore[return-value]
