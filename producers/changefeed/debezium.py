"""Debezium change events (JSON envelopes) read and mapped to intake events — no Kafka here.

An envelope carries `op` (c create, u update, r snapshot read, d delete), the row `before`
and `after` the change, `source` (connector, db, schema, table, position) and `ts_ms`; with
the JSON converter's schemas enabled it is wrapped as {"schema": …, "payload": …} and the
schema says how each column is encoded (DATE as days since 1970, TIMESTAMP as epoch ms/µs,
DECIMAL as base64 bytes). c/u/r become upserts of the row after the change, d a withdraw of
the row before it. See https://debezium.io/documentation/reference/stable/connectors/postgresql.html
("Data change events").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from producers.changefeed.errors import ChangeFeedError
from producers.changefeed.mapping import FeedMapping, TableMapping
from producers.events import FieldProblem, RecordRejection, build_intake_event
from schemas.categories import Operation, category_spec
from schemas.records import IntakeEvent

ADAPTER = "debezium/1"
OPERATIONS: dict[str, Operation] = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "withdraw"}
_EPOCH = dt.datetime(1970, 1, 1)
_MAX_SEQUENCE = 2**63 - 1  # Avro long
_BINLOG_NUMBER = re.compile(r"\.(\d+)$")


class MalformedChange(ChangeFeedError):
    """A message that is not a change event this feed can map: which part, what was expected."""

    def __init__(self, field: str, reason: str, code: str = "malformed_change") -> None:
        self.field = field
        self.reason = reason
        self.code = code
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: dict[str, Any]
    ts_ms: int | None
    # Column → (Connect semantic type name, its parameters), from the envelope's schema.
    column_types: dict[str, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)

    @property
    def operation(self) -> Operation:
        return OPERATIONS[self.op]

    @property
    def image(self) -> dict[str, Any]:
        """The row the intake event is made of: after the change, or before a delete."""
        row = self.before if self.op == "d" else self.after
        return row or {}


def parse_change(value: bytes) -> ChangeEvent:
    """Read one Kafka message value as a Debezium envelope; MalformedChange says what is off."""
    try:
        doc = json.loads(value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedChange("(message)", f"expected a JSON Debezium envelope: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedChange("(message)", f"expected a JSON object, got {type(doc).__name__}")
    schema = None
    if "payload" in doc and "schema" in doc:
        schema, doc = doc["schema"], doc["payload"]
        if not isinstance(doc, dict):
            raise MalformedChange("payload", "expected the change event object")
    op = doc.get("op")
    if op not in OPERATIONS:
        if op in ("t", "m"):
            raise MalformedChange(
                "op",
                f"{'a truncate' if op == 't' else 'a logical message'} carries no row to map; "
                "withdraw the records individually",
                "unsupported_operation",
            )
        raise MalformedChange("op", f"expected one of c, u, r, d; got {op!r}")
    image_name = "before" if op == "d" else "after"
    before, after = doc.get("before"), doc.get("after")
    for name, row in (("before", before), ("after", after)):
        if row is not None and not isinstance(row, dict):
            raise MalformedChange(name, f"expected the row as an object, got {type(row).__name__}")
    if not (before if op == "d" else after):
        raise MalformedChange(image_name, f"op {op!r} needs the row {image_name} the change")
    source = doc.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("table"), str):
        raise MalformedChange("source.table", "expected the source block naming the table")
    ts_ms = doc.get("ts_ms", source.get("ts_ms"))
    if ts_ms is not None and (isinstance(ts_ms, bool) or not isinstance(ts_ms, int)):
        raise MalformedChange("ts_ms", f"expected milliseconds since 1970, got {ts_ms!r}")
    return ChangeEvent(op, before, after, source, ts_ms, _column_types(schema, image_name))


def _column_types(schema: Any, image: str) -> dict[str, tuple[str | None, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return {}
    for part in schema.get("fields") or ():
        if isinstance(part, dict) and part.get("field") == image:
            return {
                f["field"]: (f.get("name"), dict(f.get("parameters") or {}))
                for f in part.get("fields") or ()
                if isinstance(f, dict) and "field" in f
            }
    return {}


def source_sequence(source: Mapping[str, Any], offset: int) -> int:
    """The order of a change within its source database, so that later changes win.

    PostgreSQL's WAL position (lsn), MySQL's binlog file number and position, Oracle's SCN;
    otherwise the Kafka offset (Debezium keys messages by primary key, so one row's changes
    stay in one partition, in order)."""
    lsn = source.get("lsn")
    if isinstance(lsn, int) and not isinstance(lsn, bool):
        return _checked(lsn, "source.lsn")
    pos, file = source.get("pos"), source.get("file")
    if isinstance(pos, int) and isinstance(file, str) and (m := _BINLOG_NUMBER.search(file)):
        # A binlog file holds at most 1 GiB, so the position fits in the low 32 bits.
        return _checked(int(m.group(1)) << 32 | pos, "source.file/pos")
    scn = source.get("scn")
    if isinstance(scn, str) and scn.isdigit():
        return _checked(int(scn), "source.scn")
    return offset


def _checked(value: int, name: str) -> int:
    if not 0 <= value <= _MAX_SEQUENCE:
        raise MalformedChange(name, f"expected a position between 0 and 2^63-1, got {value}")
    return value


def decode_value(
    value: Any, semantic: str | None, params: Mapping[str, Any], hint: str | None
) -> Any:
    """A column value as Python, decoded by its Connect semantic type or the mapping's hint."""
    if value is None:
        return None
    kind = hint or _SEMANTIC_KINDS.get(semantic or "")
    if kind in _EPOCH_UNITS and isinstance(value, int) and not isinstance(value, bool):
        try:
            if kind == "epoch_days":
                return dt.date(1970, 1, 1) + dt.timedelta(days=value)
            # Debezium's Timestamp types are the column's wall-clock time counted as if UTC.
            return _EPOCH + dt.timedelta(microseconds=value * _EPOCH_UNITS[kind])
        except OverflowError:
            return value  # left as it is: the field's parser refuses it with its reason
    if semantic == "io.debezium.time.ZonedTimestamp" and isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if semantic == "org.apache.kafka.connect.data.Decimal" and isinstance(value, str):
        return _decimal(value, int(params.get("scale", 0)))
    if semantic == "io.debezium.data.VariableScaleDecimal" and isinstance(value, dict):
        return _decimal(str(value.get("value", "")), int(value.get("scale", 0)))
    return value


_EPOCH_UNITS = {"epoch_days": 0, "epoch_ms": 1000, "epoch_us": 1, "epoch_ns": 0.001}
_SEMANTIC_KINDS = {
    "io.debezium.time.Date": "epoch_days",
    "org.apache.kafka.connect.data.Date": "epoch_days",
    "io.debezium.time.Timestamp": "epoch_ms",
    "org.apache.kafka.connect.data.Timestamp": "epoch_ms",
    "io.debezium.time.MicroTimestamp": "epoch_us",
    "io.debezium.time.NanoTimestamp": "epoch_ns",
}


def _decimal(text: str, scale: int) -> Decimal | str:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return text
    return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)


def decode_row(change: ChangeEvent, table: TableMapping) -> dict[str, Any]:
    """The image row with every mapped column decoded.

    Without a schema and without a hint, an integer in a date field is read as days since
    1970 — Debezium's encoding of DATE in every time.precision.mode — never as the Excel
    serial number producers.values would take it for."""
    spec = category_spec(table.category)
    dates = {
        column
        for column, name in table.columns.items()
        if name in spec.field_names and spec.field(name).kind == "date"
    }
    row = dict(change.image)
    for column in table.columns:
        if column not in row:
            continue
        semantic, params = change.column_types.get(column, (None, {}))
        hint = table.column_types.get(column)
        if hint is None and semantic is None and column in dates:
            hint = "epoch_days"
        row[column] = decode_value(row[column], semantic, params, hint)
    return row


@dataclass(frozen=True, slots=True)
class MappedChange:
    table: TableMapping
    fields: dict[str, Any]  # by field name: the body of a rejection, correctable and re-driven
    outcome: IntakeEvent | RecordRejection


def map_change(
    change: ChangeEvent, mapping: FeedMapping, *, offset: int, record_ref: str
) -> MappedChange:
    """The intake event of one change (or its rejection); MalformedChange when the table is
    not in the mapping or the envelope lacks its position or time."""
    schema = change.source.get("schema") or change.source.get("db")
    table = mapping.table_for(schema if isinstance(schema, str) else None, change.source["table"])
    if table is None:
        known = ", ".join(t.table for t in mapping.tables)
        raise MalformedChange(
            "source.table",
            f"table {change.source['table']!r} is not in mapping {mapping.source} "
            f"(it maps {known})",
            "unmapped_table",
        )
    if change.ts_ms is None:
        raise MalformedChange("ts_ms", "expected the time of the change (ts_ms)")
    row = decode_row(change, table)
    ref = f"{record_ref} {table.row_ref(row)}"
    fields = table.row_fields(row, change.operation)
    missing = table.missing_columns(row)
    if missing:
        image = "before" if change.op == "d" else "after"
        hint = (
            f"; set REPLICA IDENTITY FULL on {table.table} so deletes carry the whole row"
            if change.op == "d"
            else ""
        )
        problems = [
            FieldProblem(
                table.columns.get(column, column),
                column,
                None,
                f"column {column!r} is absent from the row {image} the change{hint}",
                "malformed_row",
            )
            for column in missing
        ]
        return MappedChange(table, fields, RecordRejection.of(ref, problems))
    emitted = dt.datetime.fromtimestamp(change.ts_ms / 1000, dt.UTC)
    outcome = build_intake_event(
        table.category,
        fields,
        mapping.department,
        ADAPTER,
        source_sequence(change.source, offset),
        emitted,
        record_ref=ref,
    )
    return MappedChange(table, fields, outcome)
