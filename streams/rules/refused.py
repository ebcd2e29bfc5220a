"""The record a dead letter refused, as the department will see it: which row or request
record, its key, the value at fault and its fields by template header (no Kafka here).

Two kinds of value reach credit.rejected: a record an adapter refused (JSON with the fields
as sent) and a record a stage refused after the adapter accepted it (the intake event's
Avro bytes). Personal ID numbers are blanked: the department fills them in again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from schemas.categories import (
    SERIAL_HEADER,
    SUBJECT_CODE_HEADER,
    SUBJECT_NAME_HEADER,
    category_spec,
)
from schemas.codec import decode_intake
from schemas.errors import SchemaError
from schemas.personal_ids import mask_resident_ids

ROW_BITS = 21  # producers.events.spreadsheet_sequence: the row number in the low bits
PERSONAL_FIELDS = frozenset({"id_document_number", "证件号码"})
BLANKED = ""
_REF = re.compile(r"^((?:row|record) \d+(?: \([^)]*\))?):")
_PSEUDO = {
    "subject_code": SUBJECT_CODE_HEADER,
    "subject_name": SUBJECT_NAME_HEADER,
    "serial": SERIAL_HEADER,
}


def _header(category: str, name: str) -> str:
    if name in _PSEUDO:
        return _PSEUDO[name]
    try:
        return category_spec(category).field(name).chinese
    except KeyError:
        return name


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return mask_resident_ids(str(value))


def _by_header(category: str, fields: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in fields.items():
        header = _header(category, str(name))
        sensitive = name in PERSONAL_FIELDS or header in PERSONAL_FIELDS
        out[header] = BLANKED if sensitive else _text(value)
    return out


def record_key_of(category: str, fields: Mapping[str, str]) -> str:
    """The natural key of a record from its fields by header ('' when a key field is empty),
    joined as producers.events joins it for several key fields."""
    try:
        spec = category_spec(category)
    except KeyError:
        return ""
    parts = [fields.get(spec.field(name).chinese, "").strip() for name in spec.key_fields]
    return "|".join(parts) if all(parts) else ""


def refused_record(value: bytes | None, headers: Mapping[str, str]) -> dict[str, Any]:
    """record_ref, record_key, value, fields_json (and emitted_at, department, category when
    the value is an intake event) of a dead letter; empty strings where unknown."""
    message = headers.get("__connect.errors.exception.message", "")
    category = headers.get("creditsync.category", "")
    field = (headers.get("creditsync.field") or "").split("/")[0]
    out: dict[str, Any] = {"record_ref": "", "record_key": "", "value": "", "fields_json": "{}"}
    if (found := _REF.match(message)) is not None:
        out["record_ref"] = found.group(1)
    if not value:
        return out
    if headers.get("creditsync.original.content-type") == "application/json":
        try:
            body = json.loads(value)
        except ValueError:
            return out
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return out
        category = category or str(body.get("category") or "")
        by_header = _by_header(category, fields)
        out["fields_json"] = json.dumps(by_header, ensure_ascii=False)
        out["record_key"] = record_key_of(category, by_header)
        out["value"] = by_header.get(_header(category, field), "") if field else ""
        return out
    try:
        event = decode_intake(value)
    except SchemaError:
        return out
    category = event["category"]
    subject = event["subject"]
    fields: dict[str, Any] = {}
    if category != "registration":
        code = subject["uscc"] or subject["registration_number"] or subject["organisation_code"]
        fields = {"subject_code": code, "subject_name": subject["name"]}
    fields.update(event["payload"])
    by_header = _by_header(category, fields)
    number = event["source_sequence"] & ((1 << ROW_BITS) - 1)
    adapter = event["adapter"]
    if not out["record_ref"]:
        if adapter.startswith("spreadsheet"):
            out["record_ref"] = f"row {number}"
        elif adapter.startswith("http"):
            out["record_ref"] = f"record {number}"
    out.update(
        record_key=mask_resident_ids(event["record_key"]),
        fields_json=json.dumps(by_header, ensure_ascii=False),
        value=by_header.get(_header(category, field), "") if field else "",
        emitted_at=event["emitted_at"],
        department=event["department"]["code"],
        category=category,
    )
    return out
