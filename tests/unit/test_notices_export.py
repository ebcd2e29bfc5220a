"""`creditsync notices list --format csv|xlsx --output F`: the open notices as a file, with
Chinese headers, formula-safe (creditsync/reports/export.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from creditsync.cli import app
from creditsync.ops import status
from creditsync.ops.status import NOTICE_HEADERS, OpenNotice

runner = CliRunner()
NOTICES = [
    OpenNotice("n-1", "国家税务总局宁夏回族自治区税务局", "916404224363518133",
               '=HYPERLINK("http://example.invalid","点击")', "initiated", "2026-10-08", 40),
    OpenNotice("n-2", "宁夏回族自治区住房和城乡建设厅", "91640104966779462F",
               "银川贺兰山建筑工程有限公司", "responded", "2026-11-20", 8),
]  # fmt: skip


@pytest.fixture(autouse=True)
def open_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    # The notices as collect_open_notices reads them from Kafka (tested with the broker in
    # the integration tests); here only what the command does with them.
    monkeypatch.setattr(status, "collect_open_notices", lambda kafka, prefix: list(NOTICES))


def test_csv_export(tmp_path: Path) -> None:
    out = tmp_path / "notices.csv"
    result = runner.invoke(app, ["notices", "list", "--format", "csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == NOTICE_HEADERS
    guarded = "'" + NOTICES[0].canonical_name  # a formula start is kept as text
    assert rows[1] == ["n-1", "国家税务总局宁夏回族自治区税务局", "916404224363518133",
                       guarded, "initiated", "2026-10-08", "40"]  # fmt: skip
    assert len(rows) == 3


def test_xlsx_export_of_one_department(tmp_path: Path) -> None:
    out = tmp_path / "notices.xlsx"
    result = runner.invoke(app, ["notices", "list", "--department", "住房", "--format", "xlsx",
                                 "--output", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert tuple(rows[0]) == NOTICE_HEADERS
    assert rows[1:] == [["n-2", "宁夏回族自治区住房和城乡建设厅", "91640104966779462F",
                         "银川贺兰山建筑工程有限公司", "responded", "2026-11-20", 8]]  # fmt: skip


def test_xlsx_needs_a_file_name() -> None:
    result = runner.invoke(app, ["notices", "list", "--format", "xlsx"])
    assert result.exit_code == 1
    assert "--output" in result.output


def test_json_is_unchanged() -> None:
    result = runner.invoke(app, ["notices", "list", "--json", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert '"notice_id": "n-1"' in result.output and "n-2" not in result.output
