"""Mapping `EnrichedRecord`s to ClickHouse rows: pure functions, one per table family.

The Python path: used where the server cannot take Avro blocks natively, and for records
handed in as dicts that do not encode. The native path's views (migrations/m0005_landing.py)
make the same rows; tests/integration/test_sinks_clickhouse_native.py compares the two.

Every typed row carries the same lineage and routing columns (`COMMON_COLUMNS`), so any
figure on a dashboard can be traced to its Kafka offset, department, adapter and schema.
The category columns follow schemas/categories.py by English field name; the migrations
freeze the DDL, and tests/integration/test_sinks_clickhouse.py checks the two agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from schemas.categories import (
    CATEGORY_SPECS,
    ITEM_AND_CHANGE_CATEGORIES,
    PERSONAL_ID_CATEGORIES,
    FieldSpec,
)
from schemas.personal_ids import contains_resident_id, mask_resident_ids
from schemas.records import EnrichedRecord
from sinks.errors import RecordMappingError

Row = dict[str, Any]

# Typed tables, one per published category (registration feeds `entities` instead).
CATEGORY_TABLES: dict[str, str] = {c: c for c in ITEM_AND_CHANGE_CATEGORIES}
RAW_TABLE = "records_raw"
ENTITIES_TABLE = "entities"
ENTITY_NAMES_TABLE = "entity_names"

COMMON_COLUMNS: tuple[str, ...] = (
    "event_id",
    "version",
    "version_number",
    "operation",
    "publication_status",
    "uscc",
    "record_key",
    "canonical_name",
    "entity_type",
    "region_code",
    "province",
    "prefecture",
    "county",
    "department_code",
    "department_name",
    "subject_code_sent",
    "occurred_at",
    "emitted_at",
    "processed_at",
    "source_sequence",
    "adapter",
    "working_days",
    "deadline_working_days",
    "deadline_met",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "schema_fingerprint",
)

# Personal data never stored in analytics: only the keyed hash of an ID number is kept
# (DOMAIN.md "Privacy"); the masked form is for the public view.
_NOT_STORED = frozenset({"id_document_number", "id_document_number_masked"})
_ID_HASH = "id_document_number_hash"

_ENTITY_COLUMN_NAMES = {"entity_type": "registered_type"}
# Not masked: codes are checked as codes (an all-digit USCC can pass an ID number's checks by
# chance) and the hash is hex. Every other text is masked, whatever streams/ let through.
_UNMASKED = frozenset(
    {f.name for spec in CATEGORY_SPECS.values() for f in spec.fields if f.kind == "code"}
    | {_ID_HASH}
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_U64 = 1 << 64


def version_number(record: EnrichedRecord) -> int:
    """A UInt256 that orders like the record's version: (source_sequence, emitted_at ms,
    event_id) packed as 64 | 64 | 128 bits.

    ReplacingMergeTree needs a numeric version; a UUID event id compares as text exactly as
    its 128-bit value does, and any other id keeps its text order in its first 16 bytes."""
    event_id = record["event_id"]
    seq = record["source_sequence"]
    if not 0 <= seq < _U64:
        raise RecordMappingError(event_id, "source_sequence", "an integer in [0, 2**64)", seq)
    emitted = record["emitted_at"]
    if not isinstance(emitted, dt.datetime) or emitted.tzinfo is None:
        raise RecordMappingError(event_id, "emitted_at", "a timezone-aware datetime", emitted)
    ms = (emitted - _EPOCH) // dt.timedelta(milliseconds=1)
    try:
        tail = uuid.UUID(event_id).int if len(event_id) == 36 else None
    except ValueError:
        tail = None
    if tail is None:
        tail = int.from_bytes(event_id.encode().ljust(16, b"\0")[:16], "big")
    return (seq << 192) | ((ms % _U64) << 128) | tail


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _masked_text(value: Any) -> str:
    return mask_resident_ids(_text(value))


def _masked_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with full resident ID numbers masked in its texts (the same object when
    there are none: one joined scan, as for nearly every record)."""
    texts = [
        v if isinstance(v, str) else "\n".join(x for x in v if isinstance(x, str))
        for k, v in payload.items()
        if k not in _UNMASKED and isinstance(v, str | list)
    ]
    if not contains_resident_id("\n".join(texts)):
        return payload
    return {
        k: v
        if k in _UNMASKED
        else mask_resident_ids(v)
        if isinstance(v, str)
        else [mask_resident_ids(x) if isinstance(x, str) else x for x in v]
        if isinstance(v, list)
        else v
        for k, v in payload.items()
    }


def _date(event_id: str, name: str, value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise RecordMappingError(event_id, name, "a date (datetime.date or YYYY-MM-DD)", value)


def _money(event_id: str, name: str, value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
        if not amount.is_finite():
            raise InvalidOperation
        return amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        raise RecordMappingError(event_id, name, "an amount in yuan with 2 places", value) from None


def _names(event_id: str, name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    raise RecordMappingError(event_id, name, "a list of names", value)


def field_value(event_id: str, spec: FieldSpec, value: Any) -> Any:
    """One payload field in its column type (Date32, Decimal(18,2), Array, String)."""
    if spec.kind == "date":
        return _date(event_id, spec.name, value)
    if spec.kind == "money":
        return _money(event_id, spec.name, value)
    if spec.kind == "names":
        return _names(event_id, spec.name, value)
    return _text(value)


def common_row(record: EnrichedRecord) -> Row:
    """The routing, timeliness and lineage columns every typed table shares."""
    event_id = record["event_id"]
    for name in ("uscc", "version", "record_key"):
        if not record.get(name):
            raise RecordMappingError(event_id, name, "a non-empty string", record.get(name))
    region = record.get("region") or {}
    subject = record.get("subject") or {}
    timeliness = record.get("timeliness") or {}
    lineage = record.get("lineage") or {}
    for name in ("emitted_at", "processed_at"):
        value = record.get(name)
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise RecordMappingError(event_id, name, "a timezone-aware datetime", value)
    met = timeliness.get("deadline_met")
    return {
        "event_id": event_id,
        "version": record["version"],
        "version_number": version_number(record),
        "operation": record["operation"],
        "publication_status": record["publication_status"],
        "uscc": record["uscc"],
        "record_key": record["record_key"],
        "canonical_name": _masked_text(record.get("canonical_name")),
        "entity_type": _text(record.get("entity_type")),
        "region_code": _text(region.get("code")),
        "province": _text(region.get("province")),
        "prefecture": _text(region.get("prefecture")),
        "county": _text(region.get("county")),
        "department_code": record["department"]["code"],
        "department_name": _masked_text(record["department"].get("name")),
        "subject_code_sent": _text(
            subject.get("uscc")
            or subject.get("registration_number")
            or subject.get("organisation_code")
        ),
        "occurred_at": _date(event_id, "occurred_at", record.get("occurred_at")),
        "emitted_at": record["emitted_at"],
        "processed_at": record["processed_at"],
        "source_sequence": record["source_sequence"],
        "adapter": _text(record.get("adapter")),
        "working_days": timeliness.get("working_days"),
        "deadline_working_days": timeliness.get("deadline_working_days"),
        "deadline_met": None if met is None else bool(met),
        "kafka_topic": _text(lineage.get("topic")),
        "kafka_partition": int(lineage.get("partition", -1)),
        "kafka_offset": int(lineage.get("offset", -1)),
        "schema_fingerprint": _text(lineage.get("schema_fingerprint")),
    }


def category_row(record: EnrichedRecord, common: Row | None = None) -> Row:
    """A row of the category's typed table: common columns and each payload field typed.
    `common`: the record's common_row when the caller has it already (it is copied)."""
    spec = CATEGORY_SPECS[record["category"]]
    payload = _masked_payload(record.get("payload") or {})
    row = dict(common) if common is not None else common_row(record)
    for field in spec.fields:
        if field.name in _NOT_STORED:
            continue
        row[field.name] = field_value(record["event_id"], field, payload.get(field.name))
    if record["category"] in PERSONAL_ID_CATEGORIES:
        row[_ID_HASH] = _text(payload.get(_ID_HASH))
    return row


def raw_row(record: EnrichedRecord, common: Row | None = None) -> Row:
    """The `records_raw` row: every record of every category, payload kept as JSON."""
    payload = {k: v for k, v in (record.get("payload") or {}).items() if k not in _NOT_STORED}
    payload = _masked_payload(payload)
    row = dict(common) if common is not None else common_row(record)
    row["category"] = record["category"]
    # Issue #17: a back-load (存量), left out of the timeliness views (m0007).
    row["backfill"] = bool(record.get("backfill", False))
    # Dates and amounts as str() makes them; keys sorted, so equal payloads are equal text.
    row["payload_json"] = orjson.dumps(
        payload, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
    ).decode()
    return row


def entity_rows(record: EnrichedRecord, common: Row | None = None) -> tuple[Row, Row]:
    """A registration record as an `entities` row and an `entity_names` row.

    Every name ever registered is kept in entity_names, so former names stay searchable in
    analytics however the versions arrive."""
    payload = _masked_payload(record.get("payload") or {})
    spec = CATEGORY_SPECS["registration"]
    row = dict(common) if common is not None else common_row(record)
    for field in spec.fields:
        # The template's 类型 (有限责任公司 …) is finer than the record's entity_type (企业 …),
        # which every row already carries: keep both under distinct names.
        column = _ENTITY_COLUMN_NAMES.get(field.name, field.name)
        row[column] = field_value(record["event_id"], field, payload.get(field.name))
    row["uscc"] = record["uscc"]  # the resolved code wins over a blank payload cell
    name = _text(payload.get("name")) or _text(record.get("canonical_name"))
    if not name:
        raise RecordMappingError(record["event_id"], "payload.name", "the registered name", name)
    row["name"] = name
    names_row = {
        "uscc": record["uscc"],
        "name": name,
        "version_number": row["version_number"],
        "event_id": record["event_id"],
        "processed_at": record["processed_at"],
    }
    return row, names_row


def rows_for(record: EnrichedRecord) -> dict[str, list[Row]]:
    """Every row one record produces, by table."""
    category = record["category"]
    common = common_row(record)  # once per record: it is most of the mapping's cost
    out: dict[str, list[Row]] = {RAW_TABLE: [raw_row(record, common)]}
    if category == "registration":
        entity, names = entity_rows(record, common)
        out[ENTITIES_TABLE] = [entity]
        out[ENTITY_NAMES_TABLE] = [names]
    elif category in CATEGORY_TABLES:
        out[CATEGORY_TABLES[category]] = [category_row(record, common)]
    return out


# What identifies a row made from a credit.records record: rows_for is a pure function of
# the record, and a record is its event id and version, made from one Kafka message at one
# processing time. Hashing these instead of every column keeps the token a tenth of its cost.
_RECORD_IDENTITY = ("event_id", "version", "processed_at", "kafka_topic", "kafka_partition",
                    "kafka_offset")  # fmt: skip


def deduplication_token(table: str, rows: list[Row]) -> str:
    """The same batch retried gets the same token, so ClickHouse drops the second insert.

    Two different batches must never share one: rows made from records are hashed by what
    identifies their record (`_RECORD_IDENTITY`), any other rows (the operational tables)
    by their whole content."""
    digest = hashlib.sha256(table.encode())
    if rows and all(c in rows[0] for c in _RECORD_IDENTITY):
        digest.update(repr([tuple([r[c] for c in _RECORD_IDENTITY]) for r in rows]).encode())
    else:
        for row in rows:
            digest.update(repr(tuple(row.values())).encode())
    return digest.hexdigest()
