"""A wide report on the terminal: turned so every figure can be read, none cut off."""

from __future__ import annotations

from rich.console import Console

from creditsync.report_cli import terminal_tables
from creditsync.reports.export import Sheet

FIGURES = [f"归集：小微企业享受扶持政策信息{i}" for i in range(27)]
HEADERS = ["报告期", "行政区划代码", "省", *FIGURES]


def _sheet(regions: int) -> Sheet:
    rows = [["2026-11", f"6404{r:02d}", "宁夏回族自治区", *(r * 100 + i for i in range(27))]
            for r in range(regions)]  # fmt: skip
    total = ["2026-11", "合计", "", *(sum(r[3 + i] for r in rows) for i in range(27))]
    return Sheet(title="信用状况监测指标 2026-11", headers=HEADERS, rows=[*rows, total])


def _render(sheet: Sheet, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    for table in terminal_tables(sheet, width):
        console.print(table)
    return console.export_text()


def test_a_wide_report_is_turned_and_every_figure_is_shown_whole():
    sheet = _sheet(9)
    text = _render(sheet, 100)
    assert "…" not in text  # rich cuts a cell it cannot fit with an ellipsis
    for name in HEADERS[3:]:
        assert name in text
    for row in sheet.rows:
        assert str(row[1]) in text and str(row[-1]) in text
    # More regions than fit beside the figure names: several tables, each within the width.
    assert len(terminal_tables(sheet, 100)) > 1
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_narrow_sheet_keeps_its_rows_as_rows():
    sheet = Sheet(title="t", headers=["部门代码", "按时率"], rows=[["scjg-640000", 0.5]])
    (table,) = terminal_tables(sheet, 80)
    assert [c.header.plain for c in table.columns] == ["部门代码", "按时率"]
