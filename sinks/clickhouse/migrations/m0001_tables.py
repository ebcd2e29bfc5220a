"""Migration 1: the typed history tables, entities, and the operational tables.

Frozen: never edit a migration that has shipped; add the next one (ALTER … ADD COLUMN).
Every table is a ReplacingMergeTree keyed by its business key with a numeric version, and
keeps the last `non_replicated_deduplication_window` insert tokens, so a retried batch is
dropped on arrival and a replay collapses to one row per key (sinks/clickhouse/sink.py).
"""

from __future__ import annotations

# Routing, timeliness and lineage columns on every record row (sinks/clickhouse/rows.py).
COMMON = """
    event_id String,
    version String,
    version_number UInt256,
    operation LowCardinality(String),
    publication_status LowCardinality(String),
    uscc String,
    record_key String,
    canonical_name String,
    entity_type LowCardinality(String),
    region_code LowCardinality(String),
    province LowCardinality(String),
    prefecture LowCardinality(String),
    county LowCardinality(String),
    department_code LowCardinality(String),
    department_name LowCardinality(String),
    subject_code_sent String,
    occurred_at Nullable(Date32),
    emitted_at DateTime64(3, 'UTC'),
    processed_at DateTime64(3, 'UTC'),
    source_sequence UInt64,
    adapter LowCardinality(String),
    working_days Nullable(Int32),
    deadline_working_days Nullable(Int32),
    deadline_met Nullable(Bool),
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    schema_fingerprint LowCardinality(String)"""

DEDUP = "SETTINGS non_replicated_deduplication_window = 10000"

# One table per published category; columns by English field name (schemas/categories.py).
# Dates are Date32: registrations and licences older than 1970 exist.
CATEGORY_COLUMNS: dict[str, str] = {
    "license": """
    license_number String,
    license_name String,
    valid_from Nullable(Date32),
    valid_to Nullable(Date32),
    licensing_authority LowCardinality(String),
    license_content String,
    status LowCardinality(String),
    details String""",
    "license_change": """
    license_number String,
    license_name String,
    change_item LowCardinality(String),
    content_before String,
    content_after String,
    changed_on Nullable(Date32)""",
    "penalty": """
    penalising_authority LowCardinality(String),
    decision_number String,
    decided_on Nullable(Date32),
    violation_type LowCardinality(String),
    fine_amount Nullable(Decimal(18, 2)),
    confiscation_amount Nullable(Decimal(18, 2)),
    penalty_kind LowCardinality(String),
    remarks String,
    penalty_basis String""",
    "penalty_change": """
    decision_number String,
    changing_authority LowCardinality(String),
    change_content String,
    changed_on Nullable(Date32)""",
    "inspection": """
    inspecting_authority LowCardinality(String),
    inspection_type LowCardinality(String),
    inspected_on Nullable(Date32),
    inspection_result LowCardinality(String)""",
    "restriction": """
    legal_basis String,
    legal_description String,
    restricted_from Nullable(Date32),
    restricted_to Nullable(Date32),
    sending_department LowCardinality(String),
    receiving_departments Array(LowCardinality(String)),
    information_type LowCardinality(String),
    person_category LowCardinality(String),
    person_name String,
    id_document_type LowCardinality(String),
    id_document_number_hash String""",
    "abnormal_operation": """
    list_action LowCardinality(String),
    reason String,
    decided_on Nullable(Date32),
    deciding_authority LowCardinality(String),
    listing_number String""",
    "red_list": """
    honour_name LowCardinality(String),
    awarding_authority LowCardinality(String),
    awarded_on Nullable(Date32),
    valid_to Nullable(Date32),
    details String""",
}

STATEMENTS: list[str] = [
    # Every record of every category (workflow events included), payload as JSON: the
    # full history of versions. Keyed by event id: a replayed event is the same row.
    f"""CREATE TABLE IF NOT EXISTS records_raw ({COMMON},
    category LowCardinality(String),
    payload_json String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(emitted_at)
ORDER BY (category, uscc, event_id) {DEDUP}""",
    # Typed current state per item: (uscc, record_key) keeps its greatest version. No
    # partitioning: versions of one item may be months apart and must meet in one part.
    *[
        f"""CREATE TABLE IF NOT EXISTS {table} ({COMMON},{columns}
) ENGINE = ReplacingMergeTree(version_number)
ORDER BY (uscc, record_key) {DEDUP}"""
        for table, columns in CATEGORY_COLUMNS.items()
    ],
    f"""CREATE TABLE IF NOT EXISTS entities ({COMMON},
    registration_number String,
    organisation_code String,
    name String,
    registration_authority LowCardinality(String),
    registered_type LowCardinality(String),
    established_on Nullable(Date32),
    status LowCardinality(String),
    legal_representative String
) ENGINE = ReplacingMergeTree(version_number)
ORDER BY uscc {DEDUP}""",
    # Every name ever registered: current and former names (DOMAIN.md "Who uses it").
    f"""CREATE TABLE IF NOT EXISTS entity_names (
    uscc String,
    name String,
    version_number UInt256,
    event_id String,
    processed_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(version_number)
ORDER BY (uscc, name) {DEDUP}""",
    f"""CREATE TABLE IF NOT EXISTS control_totals (
    department_code LowCardinality(String),
    day Date,
    category LowCardinality(String),
    declared UInt64,
    batch_id String,
    reported_at DateTime64(3, 'UTC'),
    row_version UInt64
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY (department_code, day, category, batch_id) {DEDUP}""",
    f"""CREATE TABLE IF NOT EXISTS rejections (
    rejection_id String,
    event_id String,
    department_code LowCardinality(String),
    category LowCardinality(String),
    reason_code LowCardinality(String),
    reason String,
    field LowCardinality(String),
    emitted_at DateTime64(3, 'UTC'),
    rejected_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY rejection_id {DEDUP}""",
    f"""CREATE TABLE IF NOT EXISTS parked (
    event_id String,
    department_code LowCardinality(String),
    category LowCardinality(String),
    subject_code String,
    reason_code LowCardinality(String),
    status LowCardinality(String),
    emitted_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    row_version UInt64
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY event_id {DEDUP}""",
    f"""CREATE TABLE IF NOT EXISTS notices (
    notice_id String,
    department_code LowCardinality(String),
    department_name LowCardinality(String),
    uscc String,
    item_id String,
    record_event_id String,
    information_type LowCardinality(String),
    initiated_on Date32,
    stage LowCardinality(String),
    responded_on Nullable(Date32),
    fed_back_on Nullable(Date32),
    measures String,
    row_version UInt8
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY notice_id {DEDUP}""",
]
