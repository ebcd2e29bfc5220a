"""What of a record the public may see: items, identity fields, names, codes (pure).

An item is shown while its publication_status is public or under_review and it was not
withdrawn; otherwise it leaves the profile's items for its history, which shows only when
and why it ended (issue #17: its content is no longer public; ClickHouse keeps it all).
Personal data: a restriction shows the person's name as the rules require and the masked ID
number, never the number or its keyed hash (DOMAIN.md "Privacy").
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Any

from schemas import json_bytes
from schemas.records import PUBLIC_STATUSES, EnrichedRecord, item_id

# Never in the public view: the raw number (refused earlier, sinks.base.privacy_violation)
# and the analytics hash, which would let anyone holding a number test for a person.
_NOT_PUBLIC = frozenset({"id_document_number", "id_document_number_hash"})

# The date a list is ordered by, and what puts an enterprise on it.
_LIST_DATE_FIELD = {
    "restriction": "restricted_from",
    "abnormal_operation": "decided_on",
    "red_list": "awarded_on",
    # An A-level rating puts the enterprise on the A-level taxpayers' list, which the tax
    # bureau publishes as part of the red list (seed 004: 发布诚信「红黑名单」, 纳税).
    "tax_credit_rating": "published_on",
}
_LISTED_ACTIONS = frozenset({"listed", "列入"})
TAX_RATING = "tax_credit_rating"
RED_LIST = "red_list"

IDENTITY_FIELDS = (
    "uscc", "registration_number", "organisation_code", "name", "registration_authority",
    "registered_type", "established_on", "status", "legal_representative",
)  # fmt: skip


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON with Chinese kept readable; dates ISO, money as decimal strings."""
    return json_bytes.dumps(value, default=_json_default)


def redis_text(value: Any) -> str:
    """An identity value as the profile hash stores it: the text its JSON form decodes to in
    Lua (strings as they are, dates ISO, booleans true/false, numbers as decimals)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def is_public(record: EnrichedRecord) -> bool:
    """Whether the record's item is shown in the public profile."""
    return record["operation"] != "withdraw" and record["publication_status"] in PUBLIC_STATUSES


def list_score(record: EnrichedRecord) -> int | None:
    """yyyymmdd of the date that puts the enterprise on a list, if this item does."""
    field = _LIST_DATE_FIELD.get(record["category"])
    if field is None or not is_public(record):
        return None
    payload = record["payload"]
    if record["category"] == "abnormal_operation" and payload.get("list_action") not in (
        _LISTED_ACTIONS
    ):
        return None  # a 移出 (removal) record is shown, but does not list anyone
    if record["category"] == TAX_RATING and not is_a_grade(payload.get("credit_grade")):
        return None  # only A-level taxpayers are on the list
    value = payload.get(field) or record.get("occurred_at")
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date):
        return 19700101  # listed, date unknown: sorts last
    return value.year * 10000 + value.month * 100 + value.day


def is_a_grade(grade: Any) -> bool:
    """Whether a 纳税信用等级 is A, however written (A, Ａ, A级, a)."""
    if not isinstance(grade, str):
        return False
    text = unicodedata.normalize("NFKC", grade).strip().upper().removesuffix("级")
    return text == "A"


def derived_red_list_items(tax_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The red-list (守信) entries an enterprise's public A-level tax ratings give it: derived
    from the tax bureau's rating when the profile is read, not a second department record, so
    a rating that is withdrawn or downgraded takes its entry with it."""
    derived = []
    for item in tax_items:
        payload = item.get("payload") or {}
        if item.get("category") != TAX_RATING or not is_a_grade(payload.get("credit_grade")):
            continue
        year = payload.get("evaluation_year") or ""
        derived.append(
            {
                "item_id": f"{RED_LIST}:derived:{item['item_id']}",
                "category": RED_LIST,
                "record_key": item["record_key"],
                "status": item["status"],
                "department": item["department"],
                "occurred_at": item.get("occurred_at"),
                "version": item["version"],
                "derived_from": item["item_id"],
                "payload": {
                    "honour_name": f"纳税信用A级纳税人（{year}年度）",
                    "awarding_authority": payload.get("evaluating_authority"),
                    "awarded_on": payload.get("published_on"),
                    "valid_to": None,
                    "details": "由纳税信用等级评价结果（A级）生成",
                },
            }
        )
    return derived


def public_item(record: EnrichedRecord) -> dict[str, Any] | None:
    """The item as the profile shows it, or None if it must not be shown."""
    if not is_public(record):
        return None
    payload = {k: v for k, v in record["payload"].items() if k not in _NOT_PUBLIC}
    item: dict[str, Any] = {
        "item_id": item_id(record["category"], record["record_key"]),
        "category": record["category"],
        "record_key": record["record_key"],
        "status": record["publication_status"],
        "department": record["department"],
        "occurred_at": record.get("occurred_at"),
        "version": record["version"],
        "payload": payload,
    }
    score = list_score(record)
    if score is not None:
        item["list_score"] = score
    return item


# Shown for an item that left the public view: what it was and when and why it ended, not
# its content (a period that ended must not keep a person's name or a fine on the page).
_HISTORY_TITLE_FIELDS = (
    "decision_number", "license_number", "license_name", "listing_number", "information_type",
    "honour_name", "inspection_type",
)  # fmt: skip


def history_item(record: EnrichedRecord) -> dict[str, Any] | None:
    """The history entry of an item that left the public view (None while it is public)."""
    if is_public(record) or record["category"] == "registration":
        return None
    payload = record["payload"]
    ended_on = record.get("ended_on")
    return {
        "item_id": item_id(record["category"], record["record_key"]),
        "category": record["category"],
        "record_key": record["record_key"],
        "status": record["publication_status"],
        "department": record["department"],
        "occurred_at": record.get("occurred_at"),
        "title": {k: payload[k] for k in _HISTORY_TITLE_FIELDS if payload.get(k)},
        "ended_on": ended_on,
        "end_reason": record.get("end_reason") or _STATUS_REASONS.get(
            record["publication_status"], ""
        ),
        "version": record["version"],
    }


# For records published before ended_on/end_reason existed (EnrichedRecord v2).
_STATUS_REASONS = {
    "expired": "公示期满",
    "repaired": "信用修复，提前停止公示",
    "removed": "移出经营异常名录",
    "withdrawn": "撤销公示",
}


def identity_fields(record: EnrichedRecord) -> dict[str, Any]:
    """A registration record's identity: every code, name, type, status, representative."""
    payload = record["payload"]
    fields = identity_defaults(record)
    fields.update(
        {
            "uscc": record["uscc"],
            "registration_number": payload.get("registration_number"),
            "organisation_code": payload.get("organisation_code"),
            "name": payload.get("name") or record.get("canonical_name"),
            "registration_authority": payload.get("registration_authority"),
            "registered_type": payload.get("entity_type"),
            "established_on": payload.get("established_on"),
            "status": payload.get("status"),
            "legal_representative": payload.get("legal_representative"),
        }
    )
    return fields


def identity_defaults(record: EnrichedRecord) -> dict[str, Any]:
    """What any record says about its enterprise: used only where nothing is set yet."""
    region = record.get("region") or {}
    return {
        "uscc": record["uscc"],
        "name": record.get("canonical_name"),
        "entity_type": record.get("entity_type"),
        "region_code": region.get("code"),
        "province": region.get("province"),
        "prefecture": region.get("prefecture"),
        "county": region.get("county"),
    }


def record_name(record: EnrichedRecord) -> str:
    """The enterprise name this record carries: registered name, else the canonical one."""
    if record["category"] == "registration":
        return record["payload"].get("name") or record.get("canonical_name") or ""
    return record.get("canonical_name") or ""


def record_codes(record: EnrichedRecord) -> set[str]:
    """Every code that should lead to this enterprise: its USCC, the codes a registration
    names, and the codes the department sent (resolved to this USCC by streams/)."""
    codes = {record["uscc"]}
    subject = record.get("subject") or {}
    payload = record["payload"] if record["category"] == "registration" else {}
    for source in (subject, payload):
        for name in ("uscc", "registration_number", "organisation_code"):
            value = source.get(name)
            if value:
                codes.add(value)
    return codes
