"""Migration 8: monthly monitoring indicators, department scorecards, legacy-code conversion.

Seed 003 #26: monitoring indicators reported monthly (before the 25th); seeds 000 and 004:
per-department 考核/通报; seed 000 §三(三): progress reports of the old→new code conversion.
A month is a China month (Asia/Shanghai) of when the record was sent (`emitted_at`), as a
'YYYY-MM' string so reports and Grafana filter it as text. Records the timer makes (expiries)
are not collected from anyone and are left out, as in v_department_reconciliation.

Per-category counts are rows (v_monthly_records), never one column per category: a new
category appears in the figures without a migration (creditsync/reports pivots them).
"""

from __future__ import annotations

_MONTH = "formatDateTime({col}, '%Y-%m', 'Asia/Shanghai')"
# 双公示 (seed 003 #14): licence and penalty decisions, published within 7 working days.
SHUANG_GONGSHI = "('license', 'penalty')"
_WORKFLOW = "('objection', 'credit_repair', 'notice_feedback')"
# Which records count towards on-time figures. Back-loads of an archive (存量) are not late
# submissions: migration 7 added `records_raw.backfill` (the sender's flag, or decided before
# CREDITSYNC_BACKFILL_BEFORE). streams also sends no deadline_met for them; this covers rows
# written before that.
CURRENT_SUBMISSION = "NOT backfill"
_TODAY = "toDate(now(), 'Asia/Shanghai')"

STATEMENTS: list[str] = [
    # Records collected per month, region (the enterprise's county) and category.
    f"""CREATE OR REPLACE VIEW v_monthly_records AS
SELECT {_MONTH.format(col="emitted_at")} AS month, region_code, province, prefecture, county,
       category, count() AS records
FROM records_raw FINAL
WHERE operation = 'upsert' AND adapter != 'timer'
GROUP BY month, region_code, province, prefecture, county, category""",
    # Each joint-punishment notice once for every month at whose end it was still open:
    # from the month it was sent up to (not including) the month it was fed back or its
    # restriction ended; up to this month while it is open.
    f"""CREATE OR REPLACE VIEW v_notices_open_by_month AS
SELECT formatDateTime(addMonths(toStartOfMonth(initiated_on), m), '%Y-%m') AS month,
       notice_id, uscc,
       if(department_code = '', department_name, department_code) AS department_code,
       department_name, stage
FROM (
    SELECT *,
           multiIf(ended_on IS NOT NULL AND (fed_back_on IS NULL OR ended_on < fed_back_on),
                   ended_on, fed_back_on IS NOT NULL, fed_back_on,
                   stage = 'fed_back', initiated_on, NULL) AS closed_on
    FROM notices FINAL
)
ARRAY JOIN range(toUInt32(greatest(0, dateDiff('month', toStartOfMonth(initiated_on),
    if(closed_on IS NULL, addMonths(toStartOfMonth({_TODAY}), 1),
       toStartOfMonth(assumeNotNull(closed_on))))))) AS m""",
    # The monthly indicator report per region: collected, 双公示 on time, open feedback at
    # the month's end, credit repairs, objections filed and decided.
    f"""CREATE OR REPLACE VIEW v_monthly_indicators AS
SELECT month, region_code,
       max(province) AS province, max(prefecture) AS prefecture, max(county) AS county,
       sum(collected) AS records,
       sum(due) AS shuang_gongshi_records, sum(on_time) AS shuang_gongshi_on_time,
       if(shuang_gongshi_records = 0, NULL,
          round(shuang_gongshi_on_time / shuang_gongshi_records, 4))
           AS shuang_gongshi_on_time_share,
       sum(open_notice) AS open_feedback,
       sum(repair) AS credit_repairs,
       sum(objection_filed) AS objections_filed,
       sum(objection_decided) AS objections_decided
FROM (
    SELECT {_MONTH.format(col="emitted_at")} AS month, region_code,
           toString(province) AS province, toString(prefecture) AS prefecture,
           toString(county) AS county,
           toUInt64(category NOT IN {_WORKFLOW}) AS collected,
           toUInt64(category IN {SHUANG_GONGSHI} AND deadline_met IS NOT NULL
                    AND {CURRENT_SUBMISSION}) AS due,
           toUInt64(category IN {SHUANG_GONGSHI} AND deadline_met = true
                    AND {CURRENT_SUBMISSION}) AS on_time,
           toUInt64(0) AS open_notice,
           toUInt64(category = 'credit_repair') AS repair,
           toUInt64(category = 'objection'
                    AND JSONExtractString(payload_json, 'objection_status') = 'open')
               AS objection_filed,
           toUInt64(category = 'objection' AND JSONExtractString(payload_json,
                    'objection_status') IN ('upheld', 'dismissed')) AS objection_decided
    FROM records_raw FINAL
    WHERE operation = 'upsert' AND adapter != 'timer'
    UNION ALL
    SELECT n.month, e.region_code, e.province, e.prefecture, e.county,
           0, 0, 0, toUInt64(1), 0, 0, 0
    FROM v_notices_open_by_month AS n
    LEFT JOIN (SELECT uscc, toString(region_code) AS region_code,
                      toString(province) AS province, toString(prefecture) AS prefecture,
                      toString(county) AS county
               FROM entities FINAL) AS e ON e.uscc = n.uscc
)
GROUP BY month, region_code""",
    # The per-department scorecard (考核/通报): volume, on time, refused, notices it has not
    # answered at the month's end, 查错查重 findings on its records.
    f"""CREATE OR REPLACE VIEW v_department_scorecard AS
SELECT month, department_code, max(department_name) AS department_name,
       sum(received) AS records, sum(with_deadline) AS with_deadline,
       sum(within_deadline) AS within_deadline,
       if(with_deadline = 0, NULL, round(within_deadline / with_deadline, 4))
           AS on_time_share,
       sum(refused) AS refused,
       if(records + refused = 0, NULL, round(refused / (records + refused), 4))
           AS refusal_rate,
       sum(open_notice) AS open_notices,
       sum(finding) AS findings, sum(finding_open) AS findings_open
FROM (
    SELECT {_MONTH.format(col="emitted_at")} AS month, toString(department_code)
               AS department_code, toString(department_name) AS department_name,
           toUInt64(1) AS received,
           toUInt64(deadline_met IS NOT NULL AND {CURRENT_SUBMISSION}) AS with_deadline,
           toUInt64(deadline_met = true AND {CURRENT_SUBMISSION}) AS within_deadline,
           toUInt64(0) AS refused, toUInt64(0) AS open_notice,
           toUInt64(0) AS finding, toUInt64(0) AS finding_open
    FROM records_raw FINAL WHERE adapter != 'timer'
    UNION ALL
    SELECT {_MONTH.format(col="emitted_at")}, toString(department_code), '',
           0, 0, 0, toUInt64(1), 0, 0, 0
    FROM rejections FINAL
    UNION ALL
    SELECT month, toString(department_code), toString(department_name),
           0, 0, 0, 0, toUInt64(1), 0, 0
    FROM v_notices_open_by_month
    UNION ALL
    SELECT {_MONTH.format(col="detected_at")}, toString(department_code), '',
           0, 0, 0, 0, 0, toUInt64(1), toUInt64(status = 'open')
    FROM v_findings WHERE department_code != ''
)
GROUP BY month, department_code""",
    # 新旧码转换进度 (seed 000 §三(三)): legacy codes the registry maps to a USCC (a
    # registration carrying its 注册号 / 组织机构代码), and codes records were sent under
    # that no registration maps yet (parked), by region and registering authority. An
    # outstanding code has no authority yet; a 15-digit 注册号 names its region (GS15-2006).
    """CREATE OR REPLACE VIEW v_conversion_progress AS
SELECT c.region_code AS region_code, r.province AS province, r.prefecture AS prefecture,
       r.county AS county, c.registration_authority AS registration_authority,
       c.mapped_registration_numbers AS mapped_registration_numbers,
       c.mapped_organisation_codes AS mapped_organisation_codes,
       c.outstanding_registration_numbers AS outstanding_registration_numbers,
       c.outstanding_organisation_codes AS outstanding_organisation_codes,
       c.mapped AS mapped, c.outstanding AS outstanding,
       if(c.mapped + c.outstanding = 0, NULL,
          round(c.mapped / (c.mapped + c.outstanding), 4)) AS mapped_share
FROM (
    SELECT region_code, registration_authority,
           uniqExactIf(code, kind = 'registration_number' AND state = 'mapped')
               AS mapped_registration_numbers,
           uniqExactIf(code, kind = 'organisation_code' AND state = 'mapped')
               AS mapped_organisation_codes,
           uniqExactIf(code, kind = 'registration_number' AND state = 'outstanding')
               AS outstanding_registration_numbers,
           uniqExactIf(code, kind = 'organisation_code' AND state = 'outstanding')
               AS outstanding_organisation_codes,
           mapped_registration_numbers + mapped_organisation_codes AS mapped,
           outstanding_registration_numbers + outstanding_organisation_codes AS outstanding
    FROM (
        SELECT toString(region_code) AS region_code,
               toString(registration_authority) AS registration_authority,
               kind, code, 'mapped' AS state
        FROM entities FINAL
        ARRAY JOIN ['registration_number', 'organisation_code'] AS kind,
                   [upper(replaceAll(registration_number, '-', '')),
                    upper(replaceAll(organisation_code, '-', ''))] AS code
        WHERE code != ''
        UNION ALL
        SELECT if(match(code, '^[0-9]{15}$'), substring(code, 1, 6), '') AS region_code,
               '' AS registration_authority, kind, code, 'outstanding' AS state
        FROM (
            SELECT if(reason_code = 'unknown_organisation_code', 'organisation_code',
                      'registration_number') AS kind,
                   upper(replaceAll(subject_code, '-', '')) AS code
            FROM parked FINAL
            WHERE status = 'parked'
              AND reason_code IN ('unknown_registration_number', 'unknown_organisation_code')
        )
        WHERE code != '' AND code NOT IN (
            SELECT upper(replaceAll(registration_number, '-', '')) FROM entities FINAL
            UNION ALL
            SELECT upper(replaceAll(organisation_code, '-', '')) FROM entities FINAL)
    )
    GROUP BY region_code, registration_authority
) AS c
LEFT JOIN (
    SELECT toString(region_code) AS region_code, any(toString(province)) AS province,
           any(toString(prefecture)) AS prefecture, any(toString(county)) AS county
    FROM entities FINAL WHERE region_code != '' GROUP BY region_code
) AS r ON r.region_code = c.region_code""",
]
