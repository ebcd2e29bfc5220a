"""Migration 4: what a department sees of its own records (issue #16): 对账 and refusals.

Control totals keep the department's own declared count apart from what the adapter counted
(`has_declared`), refusals keep the record they refused (row or request record, key, fields
as sent, personal numbers blanked) so they can be listed, downloaded and closed by a later
accepted record of the same key. Numbered 4, not 3, so it never collides with a parallel
migration 3; versions only need to be increasing.
"""

from __future__ import annotations

_DAY = "toDate({col}, 'Asia/Shanghai')"

STATEMENTS: list[str] = [
    "ALTER TABLE control_totals ADD COLUMN IF NOT EXISTS department_name String DEFAULT ''",
    "ALTER TABLE control_totals ADD COLUMN IF NOT EXISTS has_declared UInt8 DEFAULT 1",
    "ALTER TABLE control_totals ADD COLUMN IF NOT EXISTS received UInt64 DEFAULT 0",
    "ALTER TABLE control_totals ADD COLUMN IF NOT EXISTS duplicates UInt64 DEFAULT 0",
    "ALTER TABLE rejections ADD COLUMN IF NOT EXISTS stage LowCardinality(String) DEFAULT ''",
    "ALTER TABLE rejections ADD COLUMN IF NOT EXISTS record_ref String DEFAULT ''",
    "ALTER TABLE rejections ADD COLUMN IF NOT EXISTS record_key String DEFAULT ''",
    "ALTER TABLE rejections ADD COLUMN IF NOT EXISTS value String DEFAULT ''",
    "ALTER TABLE rejections ADD COLUMN IF NOT EXISTS fields_json String DEFAULT '{}'",
    # 对账 per department, China day and category. declared: the department's own counts
    # (NULL when it sent none that day); received: what the adapters counted; published,
    # refused (every stage), parked: where the records are now. difference = declared −
    # received (a loss on the way in); unaccounted = received − duplicates − published −
    # refused − parked (a loss inside).
    f"""CREATE OR REPLACE VIEW v_department_reconciliation AS
SELECT department_code, day, category,
       if(sum(batches_declared) = 0, NULL, sum(declared)) AS declared,
       sum(received) AS received, sum(duplicates) AS duplicates,
       sum(published) AS published, sum(refused) AS refused, sum(parked) AS parked,
       if(declared IS NULL, NULL, toInt64(received) - toInt64(declared)) AS difference,
       -- Only where an adapter counted what it received (no control totals: no check).
       if(batches = 0, NULL, toInt64(received) - toInt64(duplicates)
           - toInt64(published) - toInt64(refused) - toInt64(parked)) AS unaccounted,
       sum(batch) AS batches
FROM (
    SELECT department_code, {_DAY.format(col='reported_at')} AS day, category,
           if(has_declared, declared, 0) AS declared, toUInt64(has_declared) AS batches_declared,
           received, duplicates, toUInt64(0) AS published, toUInt64(0) AS refused,
           toUInt64(0) AS parked, toUInt64(1) AS batch
    FROM control_totals FINAL
    UNION ALL
    SELECT department_code, {_DAY.format(col='emitted_at')}, category, 0, 0, 0, 0,
           toUInt64(1), 0, 0, 0
    FROM records_raw FINAL WHERE adapter != 'timer'
    UNION ALL
    SELECT department_code, {_DAY.format(col='emitted_at')}, category, 0, 0, 0, 0, 0,
           toUInt64(1), 0, 0
    FROM rejections FINAL
    UNION ALL
    SELECT department_code, {_DAY.format(col='emitted_at')}, category, 0, 0, 0, 0, 0, 0,
           toUInt64(1), 0
    FROM parked FINAL WHERE status = 'parked'
)
GROUP BY department_code, day, category""",
    # The dashboard's 对账 panel: per department (by name) and day; declared only from what
    # departments declared, never the adapters' own counts.
    """CREATE OR REPLACE VIEW v_control_totals AS
SELECT r.department_code AS department_code,
       if(n.department_name = '', r.department_code, n.department_name) AS department_name,
       r.day AS day,
       if(countIf(r.declared IS NOT NULL) = 0, NULL, sum(ifNull(r.declared, 0))) AS declared,
       sum(r.received) AS received, sum(r.published) AS published,
       sum(r.refused) AS refused, sum(r.parked) AS parked,
       if(declared IS NULL, NULL, toInt64(received) - toInt64(declared)) AS difference,
       sum(r.unaccounted) AS unaccounted
FROM v_department_reconciliation AS r
LEFT JOIN (
    SELECT department_code, argMax(department_name, t) AS department_name FROM (
        SELECT department_code, department_name, reported_at AS t FROM control_totals
        WHERE department_name != ''
        UNION ALL
        SELECT department_code, department_name, emitted_at FROM records_raw
        WHERE department_name != ''
    ) GROUP BY department_code
) AS n ON n.department_code = r.department_code
GROUP BY department_code, department_name, day""",
    # Every refusal with whether it is closed: a later record of the same department,
    # category and key was accepted (published or waiting for its registration).
    """CREATE OR REPLACE VIEW v_department_refusals AS
SELECT r.rejection_id AS rejection_id, r.event_id AS event_id,
       r.department_code AS department_code, r.category AS category,
       r.reason_code AS reason_code, r.reason AS reason, r.field AS field,
       r.stage AS stage, r.record_ref AS record_ref, r.record_key AS record_key,
       r.value AS value, r.fields_json AS fields_json,
       r.emitted_at AS emitted_at, r.rejected_at AS rejected_at,
       r.record_key != '' AND a.last_accepted > r.emitted_at AS closed,
       if(closed, a.last_accepted, NULL) AS closed_at
FROM (SELECT * FROM rejections FINAL) AS r
LEFT JOIN (
    SELECT department_code, category, record_key, max(emitted_at) AS last_accepted
    FROM records_raw FINAL GROUP BY department_code, category, record_key
) AS a
ON a.department_code = r.department_code AND a.category = r.category
   AND a.record_key = r.record_key""",
    # Records waiting for their enterprise's registration, with their age in days.
    """CREATE OR REPLACE VIEW v_department_parked AS
SELECT event_id, department_code, category, subject_code, reason_code, emitted_at,
       dateDiff('day', toDate(emitted_at, 'Asia/Shanghai'), toDate(now(), 'Asia/Shanghai'))
           AS age_days,
       dateDiff('hour', emitted_at, now()) AS age_hours
FROM parked FINAL
WHERE status = 'parked'""",
]
