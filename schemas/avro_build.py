"""Writes the Avro schemas from schemas/categories.py and records.py as new kept versions.

The `.avsc` files under schemas/avro/ are the published contract and are never edited once
written: `python -m schemas.avro_build` renders what the current categories and envelopes
say, and writes `vN+1.avsc` only for record types whose wire form (Parsing Canonical Form)
differs from their newest kept version. Every file is self-contained (envelopes embed their
payload records), so each has one stable fingerprint and can be read by any Avro tool.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args

from fastavro.schema import to_parsing_canonical_form

from schemas.categories import (
    CATEGORIES,
    CATEGORY_SPECS,
    PERSONAL_ID_CATEGORIES,
    PERSONAL_ID_FIELD,
    CategorySpec,
    FieldSpec,
)
from schemas.records import PublicationStatus

AVRO_DIR = Path(__file__).resolve().parent / "avro"
NAMESPACE = "creditsync"
PAYLOAD_NAMESPACE = "creditsync.payload"
INTAKE_EVENT = "IntakeEvent"
ENRICHED_RECORD = "EnrichedRecord"
PUBLISHED_RESTRICTION = "PublishedRestriction"

Schema = dict[str, Any]

# Money is yuan with 2 places (DOMAIN.md); 18 digits is far beyond any fine ever imposed.
MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}
DATE = {"type": "int", "logicalType": "date"}
TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}
UUID = {"type": "string", "logicalType": "uuid"}
_KIND_TYPES: dict[str, Any] = {
    "text": "string",
    "code": "string",
    "date": DATE,
    "money": MONEY,
    "names": {"type": "array", "items": "string"},
}


def record_type_of(category: str) -> str:
    """The Avro record name of a category's payload: penalty_change -> PenaltyChange."""
    return "".join(part.capitalize() for part in category.split("_"))


def _field(name: str, type_: Any, doc: str, required: bool) -> Schema:
    if required:
        return {"name": name, "type": type_, "doc": doc}
    # Optional fields are nullable with a null default, so a reader that gains a field
    # still reads data written before it existed (schemas/README.md).
    return {"name": name, "type": ["null", type_], "default": None, "doc": doc}


def _spec_field(spec: FieldSpec) -> Schema:
    return _field(spec.name, _KIND_TYPES[spec.kind], spec.doc, spec.required)


def payload_schema(spec: CategorySpec) -> Schema:
    """The payload record of one category: exactly its fields, Chinese template names as doc."""
    return {
        "type": "record",
        "name": record_type_of(spec.category),
        "namespace": PAYLOAD_NAMESPACE,
        "doc": f"{spec.chinese} ({spec.category})",
        "fields": [_spec_field(f) for f in spec.fields],
    }


def published_record_type(category: str) -> str:
    """The record name of a category's published payload: PublishedRestriction …"""
    return f"Published{record_type_of(category)}"


def published_schema(spec: CategorySpec) -> Schema:
    """A payload as streams/ publishes it: the ID number masked and hashed (categories with
    a personal ID field, PERSONAL_ID_CATEGORIES)."""
    fields: list[Schema] = []
    for f in spec.fields:
        if f.name != PERSONAL_ID_FIELD:
            fields.append(_spec_field(f))
            continue
        # DOMAIN.md "Privacy": the raw number never leaves streams/.
        fields.append(
            _field(
                "id_document_number_masked",
                "string",
                f"{f.chinese}（脱敏，如 640422********1234）",
                False,
            )
        )
        fields.append(
            _field(
                "id_document_number_hash", "string", f"{f.chinese}（HMAC-SHA256 密钥散列）", False
            )
        )
    return {
        "type": "record",
        "name": published_record_type(spec.category),
        "namespace": PAYLOAD_NAMESPACE,
        "doc": f"{spec.chinese} ({spec.category}), published form without the raw ID number",
        "fields": fields,
    }


def published_restriction_schema() -> Schema:
    """The restriction payload as streams/ publishes it: the ID number masked and hashed."""
    return published_schema(CATEGORY_SPECS["restriction"])


def _enum(name: str, symbols: tuple[str, ...] | list[str], doc: str) -> Schema:
    return {
        "type": "enum",
        "name": name,
        "namespace": NAMESPACE,
        "symbols": list(symbols),
        "doc": doc,
    }


def _record(name: str, doc: str, fields: list[Schema]) -> Schema:
    return {"type": "record", "name": name, "namespace": NAMESPACE, "doc": doc, "fields": fields}


def _envelope_head() -> list[Schema]:
    department = _record(
        "Department",
        "提交部门 the submitting department",
        [
            _field("code", "string", "部门代码 (access configuration)", True),
            _field("name", "string", "部门名称", True),
        ],
    )
    subject = _record(
        "SubjectAsSent",
        "主体 the subject exactly as sent; at least one code is present (checked on encode)",
        [
            _field("uscc", "string", "统一社会信用代码", False),
            _field("registration_number", "string", "注册号", False),
            _field("organisation_code", "string", "组织机构代码", False),
            _field("name", "string", "企业名称", False),
        ],
    )
    return [
        _field("event_id", UUID, "事件编号 UUID; deterministic for file and HTTP intake", True),
        _field("category", _enum("Category", CATEGORIES, "信息类别"), "信息类别", True),
        _field(
            "operation",
            _enum("Operation", ("upsert", "withdraw"), "操作"),
            "操作 upsert|withdraw",
            True,
        ),
        _field("department", department, "提交部门", True),
        _field("record_key", "string", "部门业务主键 (document / licence number …)", True),
        _field("subject", subject, "主体（统一社会信用代码（企业注册号））", True),
    ]


def _payload_union(payloads: list[Schema]) -> Schema:
    return _field(
        "payload", payloads, "信息内容: the category's record; `category` names the branch", True
    )


def _backfill_field() -> Schema:
    # Not nullable, with a default: data written before the field existed reads as False.
    return {
        "name": "backfill",
        "type": "boolean",
        "default": False,
        "doc": "存量补录 a back-load: published, not counted in timeliness (issue #17)",
    }


def _intake_flags() -> list[Schema]:
    """Issue #17: the sender's back-load flag and its network status, with defaults."""
    return [
        _backfill_field(),
        {
            "name": "networked",
            "type": "boolean",
            "default": True,
            "doc": "登记机关是否具备网络条件: registrations due in 1 working day if so, 5 if not",
        },
    ]


def intake_event_schema(payloads: list[Schema]) -> Schema:
    """The envelope of credit.intake.<category>, with the payload a union of the categories."""
    fields = [
        *_envelope_head(),
        _field("occurred_at", DATE, "决定日期 the decision date the deadline runs from", False),
        _field("emitted_at", TIMESTAMP, "发出时间 (UTC)", True),
        _field("source_sequence", "long", "来源序号: order within one source; later wins", True),
        _field("adapter", "string", "适配器 spreadsheet/1, http/1, debezium/1 …", True),
        _payload_union(payloads),
        *_intake_flags(),
    ]
    return _record(
        INTAKE_EVENT, "归集事件 an intake event (schemas/records.py IntakeEvent)", fields
    )


def enriched_record_schema(payloads: list[Schema]) -> Schema:
    """The record of credit.records (key: USCC), as streams/ produces it."""
    region = _record(
        "Region",
        "行政区划 GB/T 2260 from USCC chars 3-8",
        [
            _field("code", "string", "行政区划代码", True),
            _field("province", "string", "省", False),
            _field("prefecture", "string", "地市", False),
            _field("county", "string", "区县", False),
        ],
    )
    timeliness = _record(
        "Timeliness",
        "及时性 (DOMAIN.md Timeliness)",
        [
            _field("working_days", "int", "决定至归集的工作日数", False),
            _field("deadline_working_days", "int", "时限（工作日）", False),
            _field("deadline_met", "boolean", "是否按时", False),
        ],
    )
    lineage = _record(
        "Lineage",
        "来源位置 where the intake event was read",
        [
            _field("topic", "string", "主题", True),
            _field("partition", "int", "分区", True),
            _field("offset", "long", "偏移量", True),
            _field("schema_fingerprint", "string", "写入模式指纹 hex CRC-64-AVRO", True),
        ],
    )
    status = _enum("PublicationStatus", list(get_args(PublicationStatus)), "公示状态")
    head = _envelope_head()
    fields = [
        *head,
        _field("uscc", "string", "统一社会信用代码 (resolved)", True),
        _field("canonical_name", "string", "企业名称 (from the registration)", True),
        _field("entity_type", "string", "主体类型 企业/个体工商户/农民专业合作社/社会团体 …", True),
        _field("region", region, "行政区划", True),
        _field("occurred_at", DATE, "决定日期", False),
        _field("emitted_at", TIMESTAMP, "发出时间 (UTC)", True),
        _field("processed_at", TIMESTAMP, "处理时间 (UTC)", True),
        _field("source_sequence", "long", "来源序号", True),
        _field("version", "string", "版本 (source_sequence, emitted_at ms, event_id)", True),
        _field("adapter", "string", "适配器", True),
        _field("publication_status", status, "公示状态", True),
        _field("timeliness", timeliness, "及时性", True),
        _field("lineage", lineage, "来源位置", True),
        _payload_union(payloads),
        _backfill_field(),
        _field("ended_on", DATE, "公示结束日期 the day the item left the public view", False),
        _field("end_reason", "string", "公示结束原因 (期满/移出/修复/撤销)", False),
    ]
    return _record(
        ENRICHED_RECORD, "归集记录 an enriched record (schemas/records.py EnrichedRecord)", fields
    )


def current_schemas() -> dict[str, Schema]:
    """Every record type as the current categories and envelopes describe it."""
    payloads = {record_type_of(c): payload_schema(CATEGORY_SPECS[c]) for c in CATEGORIES}
    published = {
        published_record_type(c): published_schema(CATEGORY_SPECS[c])
        for c in PERSONAL_ID_CATEGORIES
    }
    enriched_payloads = [
        published[published_record_type(c)]
        if c in PERSONAL_ID_CATEGORIES
        else payloads[record_type_of(c)]
        for c in CATEGORIES
    ]
    return {
        **payloads,
        **published,
        INTAKE_EVENT: intake_event_schema(list(payloads.values())),
        ENRICHED_RECORD: enriched_record_schema(enriched_payloads),
    }


def kept_versions(root: Path, record_type: str) -> list[tuple[int, Path]]:
    """The kept versions of a record type, oldest first."""
    found = [(int(p.stem[1:]), p) for p in (root / record_type).glob("v*.avsc")]
    return sorted(found)


def write_new_versions(root: Path = AVRO_DIR) -> list[Path]:
    """Write vN+1 for each record type whose wire form changed; return the files written."""
    written = []
    for record_type, schema in current_schemas().items():
        kept = kept_versions(root, record_type)
        if kept:
            newest = json.loads(kept[-1][1].read_text(encoding="utf-8"))
            if to_parsing_canonical_form(newest) == to_parsing_canonical_form(schema):
                continue
        path = root / record_type / f"v{kept[-1][0] + 1 if kept else 1}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_new_versions(Path(sys.argv[1]) if len(sys.argv) > 1 else AVRO_DIR):
        print(f"wrote {written_path}")
