"""Issue #17 deadlines end to end: files sent with `creditsync ingest` (a departments file with a
county registration authority without a network), the worker in-process on the real broker,
Redis and chdb.

A back-load (`--backfill`) and a file row decided before CREDITSYNC_BACKFILL_BEFORE are
published on the profile as usual but are never judged late (v_timeliness, the monthly
indicators); a current late penalty is. A registration from `networked = false` has 5 working
days from its 赋码日期.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from creditsync.settings import StreamSettings
from producers.departments import hash_token
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from streams.rules.timeliness import CHINA_STANDARD_TIME, working_days_between
from tests.intake_factory import enterprise_codes
from tests.integration.helpers import count, run_until, sinks_caught_up

pytestmark = pytest.mark.integration

NAME = "宁夏西吉县火石寨农牧有限公司"
PROVINCE = "scjg-640000"
COUNTY = "scjg-640422"
DEPARTMENTS_TOML = f"""
[[departments]]
code = "{PROVINCE}"
name = "宁夏回族自治区市场监督管理厅"
token_sha256 = "{hash_token("t-province")}"
categories = ["registration", "penalty"]

[[departments]]
code = "{COUNTY}"
name = "西吉县市场监督管理局"
token_sha256 = "{hash_token("t-county")}"
categories = ["registration"]
networked = false
"""
PENALTY_HEADERS = ["序号", "统一社会信用代码（企业注册号）", "企业名称", "作出行政处罚决定机关名称",
                   "行政处罚决定书文号", "作出行政处罚决定日期", "违法行为类型", "罚款金额",
                   "没收金额", "处罚种类", "备注", "处罚依据"]  # fmt: skip


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def penalty_row(uscc: str, number: str, decided_on: dt.date) -> list[str]:
    return ["1", uscc, NAME, "宁夏回族自治区市场监督管理厅", number, decided_on.isoformat(),
            "虚假宣传", "5000", "", "罚款", "", "《中华人民共和国广告法》第五十五条"]  # fmt: skip


def ingest(path: Path, department: str, env: dict[str, str], *extra: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "creditsync", "ingest", str(path), "--department", department,
         *extra],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def working_days_before(today: dt.date, n: int) -> dt.date:
    day = today
    while working_days_between(day, today) < n:
        day -= dt.timedelta(days=1)
    return day


def test_back_loads_are_published_but_not_judged_and_county_registrations_get_5_days(
    pipeline, kafka_bootstrap, redis_url, redis_client, topic_prefix, tmp_path, monkeypatch
):
    departments = tmp_path / "departments.toml"
    departments.write_text(DEPARTMENTS_TOML, encoding="utf-8")
    env = {
        "CREDITSYNC_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CREDITSYNC_REDIS_URL": redis_url,
        "CREDITSYNC_TOPIC_PREFIX": topic_prefix,
        "CREDITSYNC_DEPARTMENTS_FILE": str(departments),
    }
    # Dates relative to today (the CLI stamps the files now), within a penalty's public
    # period (36 months) so that every penalty is on the profile.
    today = dt.datetime.now(CHINA_STANDARD_TIME).date()
    cutoff = today - dt.timedelta(days=300)
    assigned = working_days_before(today, 3)  # late for 1 working day, on time for 5
    codes = enterprise_codes(1701)
    uscc = codes["uscc"]

    registration = write_csv(
        tmp_path / "registration.csv",
        ["统一社会信用代码", "注册号", "组织机构代码", "名称", "登记机关", "类型", "成立日期",
         "状态", "法定代表人", "赋码日期"],
        [[uscc, codes["registration_number"], codes["organisation_code"], NAME,
          "西吉县市场监督管理局", "有限责任公司", "2009-03-01", "存续", "马建国",
          assigned.isoformat()]],
    )  # fmt: skip
    archive = write_csv(
        tmp_path / "penalty-archive.csv", PENALTY_HEADERS,
        [penalty_row(uscc, "宁市监罚〔存量〕1号", today - dt.timedelta(days=400))],
    )  # fmt: skip
    current = write_csv(
        tmp_path / "penalty.csv", PENALTY_HEADERS,
        [penalty_row(uscc, "宁市监罚〔旧〕2号", cutoff - dt.timedelta(days=50)),
         penalty_row(uscc, "宁市监罚〔迟〕3号", today - dt.timedelta(days=40))],
    )  # fmt: skip
    ingest(registration, COUNTY, env)
    ingest(archive, PROVINCE, env, "--backfill")
    ingest(current, PROVINCE, env)

    # The worker reads the cut-off from CREDITSYNC_BACKFILL_BEFORE, as `creditsync worker`.
    monkeypatch.setenv("CREDITSYNC_BACKFILL_BEFORE", cutoff.isoformat())
    config = dataclasses.replace(pipeline, backfill_before=StreamSettings().backfill_before)
    assert config.backfill_before == cutoff
    reader = PublicityReader(redis_client)
    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    db = pipeline.clickhouse_database

    def everything_there() -> bool:
        items = ((reader.profile(uscc) or {}).get("items") or {}).get("penalty") or []
        stored = count(client, db, "SELECT count() FROM {db}.records_raw FINAL")
        return len(items) == 3 and stored == 4 and sinks_caught_up(config)

    assert run_until(config, everything_there), "the files never reached both stores"

    # Published as usual, back-loads included.
    profile = reader.profile(uscc)
    shown = {i["record_key"]: i["status"] for i in profile["items"]["penalty"]}
    assert shown == {"宁市监罚〔存量〕1号": "public", "宁市监罚〔旧〕2号": "public",
                     "宁市监罚〔迟〕3号": "public"}  # fmt: skip

    rows = client.query(
        f"SELECT record_key, backfill, deadline_met, working_days, deadline_working_days "
        f"FROM {db}.records_raw FINAL ORDER BY record_key"
    ).result_rows
    by_key = {r[0]: r[1:] for r in rows}
    assert by_key["宁市监罚〔存量〕1号"][:2] == (True, None)  # flagged by --backfill
    assert by_key["宁市监罚〔旧〕2号"][:2] == (True, None)  # decided before the cut-off
    late = by_key["宁市监罚〔迟〕3号"]
    assert late[:2] == (False, False) and late[2] > 7 and late[3] == 7
    # 赋码日期 three working days ago, from a county authority without a network: 5 days.
    assert by_key[uscc] == (False, True, 3, 5)

    timeliness = {
        (r[0], r[1]): r[2:]
        for r in client.query(
            f"SELECT department_code, category, with_deadline, within_deadline, backfilled "
            f"FROM {db}.v_timeliness"
        ).result_rows
    }
    assert timeliness[(PROVINCE, "penalty")] == (1, 0, 2)  # only the current one judged
    assert timeliness[(COUNTY, "registration")] == (1, 1, 0)

    month = dt.datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m")
    (indicators,) = client.query(
        f"SELECT records, shuang_gongshi_records, shuang_gongshi_on_time "
        f"FROM {db}.v_monthly_indicators WHERE month = {{m:String}} AND region_code = '640422'",
        parameters={"m": month},
    ).result_rows
    # Collected: all four; 双公示 due: the one current penalty, and it was late.
    assert tuple(indicators) == (4, 1, 0)
