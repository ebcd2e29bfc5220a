"""The monthly indicators, a scorecard row and conversion progress against a hand-counted
fixture written into embedded ClickHouse (chdb) through the sink, and their HTTP downloads.

November 2026 (China time), by hand:
- 西吉县 640422: registration 301, licence 301 (on time), penalty 302 (late), penalty 306
  (sent 2026-10-31 17:00 UTC = 1 Nov Beijing, on time) -> 4 records, 双公示 2 of 3 on time;
  credit repair 1; objections: 1 filed (open), 1 decided (dismissed); open feedback at the
  month's end: N1 (open since October) and N3 (fed back in December) -> 2.
  A back-load, penalty 309 (存量, sent late with the backfill flag): collected, so 5 records,
  but not in the on-time figures.
- 朝阳区 110105: inspection 304 -> 1 record, no 双公示.
Left out: licence 307 (October), penalty 305 (sent 1 Dec 00:30 Beijing), restriction 308
(made by the timer), notices N2 (fed back 25 Nov) and N4 (restriction ended 10 Nov).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from creditsync.http import HttpDeps, create_http_app
from creditsync.reports.indicators import conversion_report, monthly_report, scorecard_report
from creditsync.reports.periods import reporting_period
from sinks.clickhouse import ClickHouseSink, connect_clickhouse, run_readonly_query
from sinks.publicity import PublicityReader
from tests.factories import make_codes, make_enriched

pytestmark = pytest.mark.integration

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LATE = {"working_days": 12, "deadline_working_days": 7, "deadline_met": False}
SCJG = "scjg-640000"  # make_enriched's department


def at(month: int, day: int, hour: int = 2) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=UTC)


def _credit_repair(n: int, emitted_at: dt.datetime) -> dict:
    """A credit repair of penalty `n` (tests.factories has no repair payload)."""
    record = make_enriched("objection", n=n, emitted_at=emitted_at)
    key = f"西市监罚〔2024〕{n}号"
    record.update(
        category="credit_repair",
        record_key=f"penalty|{key}",
        payload={
            "target_category": "penalty",
            "target_record_key": key,
            "repaired_on": dt.date(2026, 11, 20),
            "repairing_authority": "宁夏回族自治区市场监督管理厅",
            "details": None,
        },
    )
    return record


def _records() -> list:
    return [
        make_enriched("registration", n=301, emitted_at=at(11, 3)),
        make_enriched("license", n=301, emitted_at=at(11, 5)),
        make_enriched("penalty", n=302, emitted_at=at(11, 6), timeliness=LATE),
        # As written before streams left deadline_met empty for back-loads: the view's
        # `NOT backfill` keeps it out of every on-time figure.
        make_enriched("penalty", n=309, emitted_at=at(11, 7), timeliness=LATE, backfill=True),
        make_enriched("penalty", n=306, emitted_at=dt.datetime(2026, 10, 31, 17, tzinfo=UTC)),
        make_enriched("inspection", n=304, region_code="110105", emitted_at=at(11, 10)),
        make_enriched(
            "penalty",
            n=305,
            region_code="110105",
            emitted_at=dt.datetime(2026, 11, 30, 16, 30, tzinfo=UTC),
        ),
        make_enriched("license", n=307, emitted_at=at(10, 15)),
        make_enriched("restriction", n=308, emitted_at=at(11, 12), adapter="timer"),
        _credit_repair(302, at(11, 20)),
        make_enriched("objection", n=302, emitted_at=at(11, 21)),
        make_enriched(
            "objection", n=303, emitted_at=at(11, 22), payload={"objection_status": "dismissed"}
        ),
    ]


def _notice(notice_id: str, initiated: str, **fields) -> dict:
    return {
        "notice_id": notice_id,
        "department_code": "fgw-640000",
        "department_name": "宁夏回族自治区发展和改革委员会",
        "uscc": make_codes(301)["uscc"],
        "initiated_on": initiated,
        "stage": fields.pop("stage", "initiated"),
        **fields,
    }


@pytest.fixture
def clickhouse(chdb_dsn, clickhouse_database):
    client = connect_clickhouse(chdb_dsn, clickhouse_database)
    sink = ClickHouseSink(client)
    sink.setup()
    result = sink.write_batch(_records())
    assert not result.rejected
    sink.write_notices(
        [
            _notice("N1", "2026-10-20"),
            _notice("N2", "2026-11-05", stage="fed_back", fed_back_on="2026-11-25"),
            _notice("N3", "2026-09-01", stage="fed_back", fed_back_on="2026-12-03"),
            _notice("N4", "2026-10-01", ended_on="2026-11-10"),
        ]
    )
    sink.write_rejections(
        [
            {
                "rejection_id": f"r{i}",
                "event_id": f"e{i}",
                "department_code": SCJG,
                "category": "penalty",
                "reason_code": "invalid_value",
                "reason": "处罚决定日期不合规",
                "field": "decided_on",
                "emitted_at": at(11, 8),
                "rejected_at": at(11, 8),
            }
            for i in range(2)
        ]
    )
    sink.write_findings(
        [
            {
                "reason": "one_name_two_codes",
                "uscc": make_codes(301)["uscc"],
                "kind": "name",
                "code": "x",
                "other_uscc": make_codes(302)["uscc"],
                "department": SCJG,
                "category": "registration",
                "detected_at": "2026-11-03T02:00:00+00:00",
            },
        ]
    )
    # Conversion: 302's 注册号 and 399's organisation code were sent before any registration
    # mapped them (parked); 301's codes are mapped by its registration, so its parked
    # registration number no longer counts as outstanding.
    sink.write_parked(
        [
            {
                "event_id": f"p{code}",
                "department_code": SCJG,
                "category": "penalty",
                "subject_code": code,
                "reason_code": f"unknown_{kind}",
                "status": "parked",
                "emitted_at": at(11, 9),
                "updated_at": at(11, 9),
            }
            for kind, code in [
                ("registration_number", make_codes(302)["registration_number"]),
                ("organisation_code", make_codes(399)["organisation_code"]),
                ("registration_number", make_codes(301)["registration_number"]),
            ]
        ]
    )
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}`")
    client.close()


def _query(client):
    return functools.partial(run_readonly_query, client)


def test_monthly_report_figures_match_the_hand_count(clickhouse):
    report = monthly_report(_query(clickhouse), reporting_period("2026-11"), NOW)
    rows = {r["region_code"]: r for r in report.rows}
    assert list(rows) == ["110105", "640422", "合计"]
    xiji = rows["640422"]
    assert (xiji["province"], xiji["prefecture"], xiji["county"]) == (
        "宁夏回族自治区",
        "固原市",
        "西吉县",
    )
    assert xiji["records"] == 5
    assert (xiji["records_registration"], xiji["records_license"], xiji["records_penalty"]) == (
        1,
        1,
        3,
    )
    assert xiji["records_restriction"] == 0  # the timer's record is not collected
    assert (xiji["shuang_gongshi_records"], xiji["shuang_gongshi_on_time"]) == (3, 2)
    assert xiji["shuang_gongshi_on_time_share"] == pytest.approx(0.6667)
    assert xiji["open_feedback"] == 2
    assert (xiji["credit_repairs"], xiji["objections_filed"], xiji["objections_decided"]) == (
        1,
        1,
        1,
    )
    chaoyang = rows["110105"]
    assert (chaoyang["records"], chaoyang["records_inspection"]) == (1, 1)
    assert chaoyang["shuang_gongshi_on_time_share"] is None
    total = rows["合计"]
    assert (total["records"], total["records_penalty"], total["open_feedback"]) == (6, 3, 2)
    # Every non-workflow category is a column, whether or not it had records.
    labels = [c.label for c in report.columns]
    assert "归集：行政处罚" in labels and "归集：守信红名单" in labels
    assert report.as_json()["period"] == {
        "month": "2026-11",
        "first_day": "2026-11-01",
        "last_day": "2026-11-30",
        "due_before": "2026-12-25",
    }


def test_scorecard_row_matches_the_hand_count(clickhouse):
    report = scorecard_report(_query(clickhouse), reporting_period("2026-11"), NOW)
    rows = {r["department_code"]: r for r in report.rows}
    scjg = rows[SCJG]
    # Collected in November: every record of 640422 and 110105 above, the workflow events
    # included (they are submissions too): 4 + 1 + 1 repair + 2 objections.
    assert scjg["department_name"] == "宁夏回族自治区市场监督管理厅"
    assert scjg["records"] == 9
    assert (scjg["with_deadline"], scjg["within_deadline"]) == (8, 7)
    assert scjg["refused"] == 2
    assert scjg["refusal_rate"] == pytest.approx(round(2 / 11, 4))
    assert (scjg["findings"], scjg["findings_open"]) == (1, 1)
    assert rows["fgw-640000"]["open_notices"] == 2
    assert rows["fgw-640000"]["records"] == 0


def test_conversion_progress_counts_mapped_and_outstanding_codes(clickhouse):
    report = conversion_report(_query(clickhouse), NOW)
    rows = {(r["region_code"], r["registration_authority"]): r for r in report.rows}
    mapped = rows[("640422", "西吉县市场监督管理局")]
    assert (mapped["mapped_registration_numbers"], mapped["mapped_organisation_codes"]) == (1, 1)
    assert mapped["outstanding"] == 0
    waiting = rows[("640422", "（尚无登记）")]
    assert (waiting["outstanding_registration_numbers"], waiting["mapped"]) == (1, 0)
    assert waiting["county"] == "西吉县"
    no_region = rows[("", "（尚无登记）")]
    assert no_region["outstanding_organisation_codes"] == 1
    total = rows[("合计", None)]
    assert (total["mapped"], total["outstanding"], total["mapped_share"]) == (2, 2, 0.5)


def test_views_download_as_csv_and_xlsx(clickhouse, redis_client):
    deps = HttpDeps(reader=PublicityReader(redis_client), analytics=_query(clickhouse))
    with TestClient(create_http_app(deps)) as client:
        csv_response = client.get("/v1/analytics/views/monthly_indicators?format=csv&month=2026-11")
        assert csv_response.status_code == 200, csv_response.text
        assert csv_response.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv_response.headers["content-disposition"]
        lines = csv_response.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("month,region_code,")
        regions = {row[1]: (row[0], row[5]) for row in csv.reader(lines[1:])}
        assert regions == {"640422": ("2026-11", "5"), "110105": ("2026-11", "1")}
        xlsx = client.get("/v1/analytics/views/department_scorecard?format=xlsx&month=2026-11")
        assert xlsx.status_code == 200, xlsx.text
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("month", "department_code", "department_name")
        assert {r[1] for r in rows[1:]} == {SCJG, "fgw-640000"}
        other = client.get("/v1/analytics/views/department_scorecard?month=2026-10").json()
        assert {r[1] for r in other["rows"]} == {SCJG, "fgw-640000"}
        assert client.get("/v1/analytics/views/timeliness?format=pdf").status_code == 400
        assert client.get("/v1/analytics/views/timeliness?month=2026-11").status_code == 400
        bad = client.get("/v1/analytics/views/monthly_indicators?month=2026-11'--")
        assert bad.status_code == 400


@pytest.fixture
def cli(clickhouse, chdb_dsn, clickhouse_database, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from creditsync.cli import app

    monkeypatch.setenv("CREDITSYNC_CLICKHOUSE_DSN", chdb_dsn)
    monkeypatch.setenv("CREDITSYNC_CLICKHOUSE_DATABASE", clickhouse_database)
    monkeypatch.setenv("CREDITSYNC_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env={"COLUMNS": "250"})


def test_report_cli_writes_json_xlsx_and_csv(cli, tmp_path):
    result = cli("report", "monthly", "--month", "2026-11", "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["period"]["due_before"] == "2026-12-25"
    total = next(r for r in body["rows"] if r["region_code"] == "合计")
    assert (total["records"], total["shuang_gongshi_on_time"]) == (6, 2)

    out = tmp_path / "scorecard.xlsx"
    result = cli(
        "report", "scorecard", "--month", "2026-11", "--format", "xlsx", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:4] == ("报告期", "部门代码", "部门", "报送记录数")
    scjg = next(r for r in rows if r[1] == SCJG)
    assert (scjg[3], scjg[7], scjg[8]) == (9, 2, round(2 / 11, 4))
    about = dict(book.worksheets[1].iter_rows(values_only=True))
    assert about["报告期"] == "2026-11（2026-11-01 至 2026-11-30）"
    assert about["报送截止"].startswith("2026-12-25 前")

    result = cli("report", "conversion", "--format", "csv")
    assert result.exit_code == 0, result.output
    table = list(csv.reader(result.stdout.splitlines()))
    assert table[0][0] == "行政区划代码" and table[-1][0] == "合计"
    assert table[-1][9:12] == ["2", "2", "0.5"]

    table_out = cli("report", "monthly", "--month", "2026-11")
    assert (
        table_out.exit_code == 0 and "西吉县" in table_out.stdout and "报送截止" in table_out.stdout
    )
    bad = cli("report", "monthly", "--month", "2026-13")
    assert bad.exit_code == 1 and "expected a month as YYYY-MM" in bad.output


def test_sql_exports_csv_and_xlsx_formula_safe(cli, tmp_path):
    query = "SELECT '=HYPERLINK(\"http://x\",\"点击\")' AS cell, 7 AS n, '宁夏' AS province"
    result = cli("sql", query, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert list(csv.reader(result.stdout.splitlines())) == [
        ["cell", "n", "province"],
        ['\'=HYPERLINK("http://x","点击")', "7", "宁夏"],
    ]
    out = tmp_path / "q.xlsx"
    result = cli("sql", query, "--format", "xlsx", "--output", str(out))
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    cell = sheet["A2"]
    assert cell.data_type == "s" and cell.value == '\'=HYPERLINK("http://x","点击")'
    assert sheet["B2"].value == 7
    missing = cli("sql", query, "--format", "xlsx")
    assert missing.exit_code == 1 and "--output" in missing.output
