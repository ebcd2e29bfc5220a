"""Migration 3: 查错查重 findings and what a receiving department needs of a notice.

`findings` holds credit.quality as it comes (a conflict, or a `cleared` event when a clean
re-registration resolves an enterprise's earlier findings); `v_findings` gives each finding
its open/resolved status. Notices gain the restriction, the measures expected, the deadline and
the end of the restriction; the dashboard ages overdue feedback (v_overdue_feedback).
"""

from __future__ import annotations

from sinks.clickhouse.migrations.m0001_tables import DEDUP

STATEMENTS: list[str] = [
    """ALTER TABLE notices
    ADD COLUMN IF NOT EXISTS canonical_name String DEFAULT '',
    ADD COLUMN IF NOT EXISTS legal_basis String DEFAULT '',
    ADD COLUMN IF NOT EXISTS restricted_from Nullable(Date32),
    ADD COLUMN IF NOT EXISTS restricted_to Nullable(Date32),
    ADD COLUMN IF NOT EXISTS sending_department String DEFAULT '',
    ADD COLUMN IF NOT EXISTS measures_expected String DEFAULT '',
    ADD COLUMN IF NOT EXISTS deadline Nullable(Date32),
    ADD COLUMN IF NOT EXISTS ended_on Nullable(Date32),
    ADD COLUMN IF NOT EXISTS ended_reason String DEFAULT ''""",
    f"""CREATE TABLE IF NOT EXISTS findings (
    finding_id String,
    reason LowCardinality(String),
    uscc String,
    kind LowCardinality(String),
    code String,
    other_uscc String,
    detail String,
    department_code LowCardinality(String),
    category LowCardinality(String),
    event_id String,
    record_key String,
    detected_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(detected_at)
ORDER BY finding_id {DEDUP}""",
    # Each finding with its status: resolved once a clean registration of either enterprise
    # it names came after it.
    """CREATE OR REPLACE VIEW v_findings AS
SELECT f.finding_id AS finding_id, f.reason AS reason, f.uscc AS uscc, f.kind AS kind,
       f.code AS code, f.other_uscc AS other_uscc, f.detail AS detail,
       f.department_code AS department_code, f.category AS category,
       f.event_id AS event_id, f.record_key AS record_key, f.detected_at AS detected_at,
       if(greatest(c1.cleared_at, c2.cleared_at) > f.detected_at, 'resolved', 'open') AS status
FROM (SELECT * FROM findings FINAL WHERE reason != 'cleared') AS f
LEFT JOIN (SELECT uscc, max(detected_at) AS cleared_at FROM findings
           WHERE reason = 'cleared' GROUP BY uscc) AS c1 ON f.uscc = c1.uscc
LEFT JOIN (SELECT uscc, max(detected_at) AS cleared_at FROM findings
           WHERE reason = 'cleared' GROUP BY uscc) AS c2 ON f.other_uscc = c2.uscc""",
    """CREATE OR REPLACE VIEW v_findings_by_reason AS
SELECT department_code, reason, status, count() AS findings,
       dateDiff('day', toDate(min(detected_at), 'Asia/Shanghai'),
                toDate(now(), 'Asia/Shanghai')) AS oldest_days
FROM v_findings
GROUP BY department_code, reason, status""",
    # Open notices no longer count once their restriction ended (nothing more is expected).
    """CREATE OR REPLACE VIEW v_open_notices_by_age AS
SELECT department_code, department_name, stage,
       multiIf(age_days <= 7, '0-7', age_days <= 30, '8-30', age_days <= 90, '31-90', '>90')
           AS age_bucket,
       count() AS notices, max(age_days) AS oldest_days
FROM (
    SELECT department_code, department_name, stage,
           dateDiff('day', initiated_on, toDate(now(), 'Asia/Shanghai')) AS age_days
    FROM notices FINAL
    WHERE stage != 'fed_back' AND ended_on IS NULL
)
GROUP BY department_code, department_name, stage, age_bucket""",
    # Feedback past its deadline, by receiving department and how long overdue.
    """CREATE OR REPLACE VIEW v_overdue_feedback AS
SELECT department_code, department_name, stage,
       multiIf(overdue_days <= 7, '1-7', overdue_days <= 30, '8-30', '>30') AS overdue_bucket,
       count() AS notices, max(overdue_days) AS most_overdue_days
FROM (
    SELECT department_code, department_name, stage,
           dateDiff('day', coalesce(deadline, addDays(initiated_on, 30)),
                    toDate(now(), 'Asia/Shanghai')) AS overdue_days
    FROM notices FINAL
    WHERE stage != 'fed_back' AND ended_on IS NULL
)
WHERE overdue_days > 0
GROUP BY department_code, department_name, stage, overdue_bucket""",
]
