"""Migration 2: the dashboard views. All read FINAL, so replays never count twice.

Days are China days (Asia/Shanghai): a record sent at 07:00 Beijing time belongs to that day,
not to the previous UTC day.
"""

from __future__ import annotations

_PUBLIC = "('public', 'under_review')"
_WORKFLOW = "('objection', 'credit_repair', 'notice_feedback')"
_DAY = "toDate(emitted_at, 'Asia/Shanghai')"

STATEMENTS: list[str] = [
    # Daily volume by department, category and province (volumes, DOMAIN.md "Who uses it").
    f"""CREATE OR REPLACE VIEW v_daily_volume AS
SELECT {_DAY} AS day, department_code, department_name, category,
       substring(region_code, 1, 2) AS province_code, province,
       count() AS records
FROM records_raw FINAL
GROUP BY day, department_code, department_name, category, province_code, province""",
    # Share of records published within their deadline (双公示: 7 working days).
    """CREATE OR REPLACE VIEW v_timeliness AS
SELECT department_code, department_name, category,
       countIf(deadline_met IS NOT NULL) AS with_deadline,
       countIf(deadline_met = true) AS within_deadline,
       if(with_deadline = 0, NULL, round(within_deadline / with_deadline, 4))
           AS share_within_deadline
FROM records_raw FINAL
WHERE operation = 'upsert'
GROUP BY department_code, department_name, category""",
    # 对账: what a department declared, what arrived (accepted, rejected or still parked),
    # and what was published, per department and day.
    f"""CREATE OR REPLACE VIEW v_control_totals AS
SELECT department_code, day,
       sum(is_declared) AS declared, sum(is_received) AS received,
       sum(is_published) AS published,
       toInt64(received) - toInt64(declared) AS difference
FROM (
    SELECT department_code, day, toUInt64(declared) AS is_declared,
           toUInt64(0) AS is_received, toUInt64(0) AS is_published
    FROM control_totals FINAL
    UNION ALL
    SELECT department_code, {_DAY} AS day, toUInt64(0), toUInt64(1),
           toUInt64(operation = 'upsert' AND publication_status IN {_PUBLIC}
                    AND category NOT IN {_WORKFLOW})
    FROM records_raw FINAL
    UNION ALL
    SELECT department_code, {_DAY} AS day, toUInt64(0), toUInt64(1), toUInt64(0)
    FROM rejections FINAL
    UNION ALL
    SELECT department_code, {_DAY} AS day, toUInt64(0), toUInt64(1), toUInt64(0)
    FROM parked FINAL WHERE status = 'parked'
)
GROUP BY department_code, day""",
    """CREATE OR REPLACE VIEW v_rejections_by_reason AS
SELECT department_code, category, reason_code, count() AS rejected
FROM rejections FINAL
GROUP BY department_code, category, reason_code""",
    """CREATE OR REPLACE VIEW v_parked_by_reason AS
SELECT department_code, category, reason_code, count() AS parked
FROM parked FINAL
WHERE status = 'parked'
GROUP BY department_code, category, reason_code""",
    # Restrictions in force by region (county level, with its province and prefecture
    # names for roll-ups) and information type (严重违法失信企业名单, 失信被执行人 …).
    f"""CREATE OR REPLACE VIEW v_restrictions_by_region AS
SELECT substring(region_code, 1, 2) AS province_code, province, prefecture, county,
       region_code, information_type,
       count() AS restrictions, uniqExact(uscc) AS enterprises
FROM restriction FINAL
WHERE operation = 'upsert' AND publication_status IN {_PUBLIC}
GROUP BY province_code, province, prefecture, county, region_code, information_type""",
    # Joint-punishment notices not yet fed back, by receiving department and age
    # (发起 → 响应 → 反馈, seed 003 item 16).
    """CREATE OR REPLACE VIEW v_open_notices_by_age AS
SELECT department_code, department_name, stage,
       multiIf(age_days <= 7, '0-7', age_days <= 30, '8-30', age_days <= 90, '31-90', '>90')
           AS age_bucket,
       count() AS notices, max(age_days) AS oldest_days
FROM (
    SELECT department_code, department_name, stage,
           dateDiff('day', initiated_on, toDate(now(), 'Asia/Shanghai')) AS age_days
    FROM notices FINAL
    WHERE stage != 'fed_back'
)
GROUP BY department_code, department_name, stage, age_bucket""",
]
