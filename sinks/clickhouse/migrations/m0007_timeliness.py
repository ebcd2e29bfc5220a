"""Migration 7 (issue #17): back-loads kept out of timeliness; decision dates of their own.

`records_raw.backfill` marks a back-load (存量: the sender's flag or decided before
CREDITSYNC_BACKFILL_BEFORE); v_timeliness counts back-loads apart and judges only the rest.
`license.decided_on` (许可决定日期) and `entities.code_assigned_on` (赋码日期) are the dates the
deadlines now run from. The native path's views that fill these tables are made again with
the new columns (DROP + CREATE: ClickHouse cannot alter a materialized view's query).
"""

from __future__ import annotations

from sinks.clickhouse.migrations.m0001_tables import CATEGORY_COLUMNS
from sinks.clickhouse.migrations.m0005_landing import (
    _ENTITY,
    _ENTITY_FIELDS,
    _NAME,
    COMMON_NAMES,
    STAGE,
    _columns,
    _from_stage,
)

_LICENSE = [*_columns(CATEGORY_COLUMNS["license"]), ("decided_on", "Nullable(Date32)")]
_ENTITIES = [*_ENTITY, ("code_assigned_on", "Nullable(Date32)")]

STATEMENTS: list[str] = [
    "ALTER TABLE records_raw ADD COLUMN IF NOT EXISTS backfill Bool DEFAULT false",
    f"ALTER TABLE {STAGE} ADD COLUMN IF NOT EXISTS backfill Bool DEFAULT false",
    "ALTER TABLE license ADD COLUMN IF NOT EXISTS decided_on Nullable(Date32)",
    "ALTER TABLE entities ADD COLUMN IF NOT EXISTS code_assigned_on Nullable(Date32)",
    "DROP VIEW IF EXISTS records_raw_from_stage",
    f"""CREATE MATERIALIZED VIEW IF NOT EXISTS records_raw_from_stage TO records_raw AS
SELECT {COMMON_NAMES}, backfill, category,
    replaceRegexpOne(payload_json, ',?"id_document_number_masked":(null|"[^"]*")', '')
        AS payload_json
FROM {STAGE}""",
    "DROP VIEW IF EXISTS license_from_stage",
    _from_stage("license", "license", _LICENSE),
    "DROP VIEW IF EXISTS entities_from_stage",
    _from_stage("entities", "registration", _ENTITIES, f",\n    {_NAME} AS name", _ENTITY_FIELDS),
    # 双公示 and 回传 timeliness: back-loads are counted apart and never judged (their
    # deadline_met is NULL as sent by streams; the filter also covers rows written before).
    """CREATE OR REPLACE VIEW v_timeliness AS
SELECT department_code, department_name, category,
       countIf(deadline_met IS NOT NULL AND NOT backfill) AS with_deadline,
       countIf(deadline_met = true AND NOT backfill) AS within_deadline,
       if(with_deadline = 0, NULL, round(within_deadline / with_deadline, 4))
           AS share_within_deadline,
       countIf(backfill) AS backfilled
FROM records_raw FINAL
WHERE operation = 'upsert'
GROUP BY department_code, department_name, category""",
]
