"""The native ClickHouse path: credit.records bodies go in as Avro blocks, ClickHouse types them.

No record is decoded in Python. A batch's messages are grouped by their writer schema's
fingerprint; each group becomes one Avro object-container block (the header fastavro writes
for that schema, then the record count, the byte size, the single-object bodies without their
10-byte header, and the sync marker) and one `INSERT … FORMAT Avro` into that version's
landing table, `records_landing_<fingerprint>` (Null engine: nothing is stored there). A
materialized view per landing table turns the version's columns into the common row shape of
`records_stage` (Null too), and the views of migration 5 (m0005_landing) fill `records_raw`,
the typed tables, `entities` and `entity_names` from it. Versions differ only inside the
payload union, which arrives as a Variant of Tuples and leaves as JSON text, so one stage
shape serves every kept version.

Privacy on this path (DOMAIN.md "Privacy"): EnrichedRecord's restriction branch has no field
for a raw ID number (only the masked form and the keyed hash), and enrichment refuses any
record with a full resident ID number in its texts (streams/rules/enrich.py), so nothing is
masked here again; tests/integration/test_privacy_scan.py scans every String column.
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Protocol

from fastavro.write import Writer

from schemas import confluent
from schemas.avro_build import ENRICHED_RECORD
from schemas.catalog import default_catalog
from schemas.codec import HEADER_LENGTH, MAGIC
from schemas.errors import CorruptRecord, UnknownSchema

STAGE_TABLE = "records_stage"
# Any 16 bytes: ClickHouse checks that each block ends with the header's marker.
SYNC_MARKER = b"creditsync.sync!"
# Per insert: the Avro union becomes a Variant whose record branches may look alike, and the
# landing views' inserts derive their own tokens from the batch's (dependent views dedup too).
INSERT_SETTINGS: dict[str, Any] = {
    "allow_suspicious_variant_types": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


class Positioned(Protocol):
    """What the native path reads of a consumed message (confluent_kafka.Message has it)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def value(self) -> bytes | None: ...


def zigzag(n: int) -> bytes:
    """An Avro long: zig-zag, then base-128 little-endian varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@cache
def container_header(fingerprint: str) -> bytes:
    """The object-container header fastavro writes for the writer schema `fingerprint`."""
    version = default_catalog().by_fp(fingerprint)
    if version.record_type != ENRICHED_RECORD:
        raise UnknownSchema(
            f"credit.records holds a {version.record_type} v{version.version} message; "
            f"expected {ENRICHED_RECORD}",
            fingerprint=fingerprint,
        )
    buf = io.BytesIO()
    Writer(buf, version.parsed, sync_marker=SYNC_MARKER).flush()
    return buf.getvalue()


def container_block(fingerprint: str, bodies: Sequence[bytes]) -> bytes:
    """One object container holding `bodies` (Avro binary records of that writer schema)."""
    data = b"".join(bodies)
    return b"".join(
        (container_header(fingerprint), zigzag(len(bodies)), zigzag(len(data)), data, SYNC_MARKER)
    )


def landing_table(fingerprint: str) -> str:
    return f"records_landing_{fingerprint}"


def split_body(value: bytes | None) -> tuple[str, bytes]:
    """(writer fingerprint, Avro body) of one credit.records message."""
    data = confluent.frame_in(value or b"")
    if len(data) < HEADER_LENGTH or data[:2] != MAGIC:
        raise CorruptRecord(
            ENRICHED_RECORD,
            "not Avro single-object encoding: expected 0xC3 0x01 and an 8-byte fingerprint, "
            f"got {bytes(data[:HEADER_LENGTH]).hex(' ') or 'no bytes'}",
        )
    return bytes(data[2:HEADER_LENGTH]).hex(), data[HEADER_LENGTH:]


def by_writer(values: Iterable[bytes | None]) -> dict[str, list[bytes]]:
    """Bodies grouped by writer fingerprint, each group in arrival order."""
    groups: dict[str, list[bytes]] = defaultdict(list)
    for value in values:
        fingerprint, body = split_body(value)
        groups[fingerprint].append(body)
    return dict(groups)


def offsets_token(fingerprint: str, messages: Sequence[Positioned]) -> str:
    """The insert's deduplication token: the writer, and each partition's offset range and
    count in the batch. A retried batch is the same messages, so the same token; another
    batch covers other offsets, so another token (a replay forms other batches, and
    ReplacingMergeTree collapses what it writes again)."""
    ranges: dict[tuple[str, int], list[int]] = {}
    for m in messages:
        key = (m.topic() or "", m.partition() or 0)
        offset = m.offset() or 0
        span = ranges.get(key)
        if span is None:
            ranges[key] = [offset, offset, 1]
        else:
            span[0] = min(span[0], offset)
            span[1] = max(span[1], offset)
            span[2] += 1
    text = ";".join(f"{t}:{p}:{a}-{b}#{n}" for (t, p), (a, b, n) in sorted(ranges.items()))
    return hashlib.sha256(f"{fingerprint}|{text}".encode()).hexdigest()


def _sql_bytes(data: bytes) -> str:
    """Bytes as a ClickHouse string literal (every byte escaped: the header is binary)."""
    return "'" + "".join(f"\\x{b:02x}" for b in data) + "'"


# The stage row of one landing row: the common columns (sinks/clickhouse/rows.py
# COMMON_COLUMNS, same values), category and the payload as JSON. version_number packs
# (source_sequence, emitted_at ms, event id's 128 bits) exactly as rows.version_number does.
STAGE_SELECT = """SELECT
    toString(event_id) AS event_id,
    version,
    bitShiftLeft(toUInt256(source_sequence), 192)
        + bitShiftLeft(toUInt256(toUnixTimestamp64Milli(emitted_at)), 128)
        + toUInt256(reinterpretAsUInt128(reverse(unhex(replaceAll(toString(event_id), '-', '')))))
        AS version_number,
    toString(operation) AS operation,
    toString(publication_status) AS publication_status,
    uscc,
    record_key,
    canonical_name,
    entity_type,
    region.code AS region_code,
    ifNull(region.province, '') AS province,
    ifNull(region.prefecture, '') AS prefecture,
    ifNull(region.county, '') AS county,
    department.code AS department_code,
    department.name AS department_name,
    coalesce(nullIf(subject.uscc, ''), nullIf(subject.registration_number, ''),
             nullIf(subject.organisation_code, ''), '') AS subject_code_sent,
    occurred_at,
    emitted_at,
    processed_at,
    toUInt64(source_sequence) AS source_sequence,
    adapter,
    timeliness.working_days AS working_days,
    timeliness.deadline_working_days AS deadline_working_days,
    timeliness.deadline_met AS deadline_met,
    lineage.topic AS kafka_topic,
    lineage.partition AS kafka_partition,
    lineage.offset AS kafka_offset,
    lineage.schema_fingerprint AS schema_fingerprint,
    toString(category) AS category,
    ifNull(toJSONString(payload), '{}') AS payload_json@BACKFILL@
FROM """


def landing_statements(fingerprint: str) -> list[str]:
    """The landing table of one writer version and its view into `records_stage`
    (idempotent: run at every setup, for every kept version)."""
    table = landing_table(fingerprint)
    header = _sql_bytes(container_header(fingerprint))
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ENGINE = Null "
        f"EMPTY AS SELECT * FROM format(Avro, {header})",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_to_stage TO {STAGE_TABLE} AS "
        f"{STAGE_SELECT.replace('@BACKFILL@', _backfill_pick(fingerprint))}{table}",
    ]


def _backfill_pick(fingerprint: str) -> str:
    """The back-load flag of a writer version that has one (EnrichedRecord v3, issue #17);
    older versions leave records_stage's default (false)."""
    schema = default_catalog().by_fp(fingerprint).schema
    has = any(f["name"] == "backfill" for f in schema.get("fields", []))
    return ",\n    backfill" if has else ""


def kept_fingerprints() -> list[str]:
    """Every kept EnrichedRecord version's fingerprint, oldest first."""
    return [v.fingerprint for v in default_catalog().versions[ENRICHED_RECORD]]
