"""The refused-rows workbook (creditsync/department/workbook.py): every formula start a
spreadsheet would run is kept as text, and ingesting the corrected workbook gets the values
the department sent back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from creditsync.department.workbook import refusals_workbook
from producers.spreadsheet import read_rows

pytestmark = pytest.mark.security

RISKY = [
    '=HYPERLINK("http://example.invalid","点击")',
    "＝1+1",  # full-width: WPS and Excel with a Chinese IME run it too
    "  @SUM(A1)",  # spaces before the formula start
    "\t=cmd",
    "-5000",
]


def test_formula_cells_are_text_and_round_trip(tmp_path: Path) -> None:
    refusal = {
        "record_ref": "2",
        "field": "fine_amount",
        "value": RISKY[0],
        "reason": "罚款金额应为数字",
        "fields_json": json.dumps({"企业名称": RISKY[1], "备注": RISKY[2],
                                   "违法行为类型": RISKY[3], "罚款金额": RISKY[4]}),
    }  # fmt: skip
    data = refusals_workbook("penalty", [refusal])
    sheet = load_workbook(io.BytesIO(data)).active
    headers = [c.value for c in sheet[1]]
    row = dict(zip(headers, (c.value for c in sheet[2]), strict=True))
    for header, sent in (("错误值", RISKY[0]), ("企业名称", RISKY[1]), ("备注", RISKY[2]),
                         ("违法行为类型", RISKY[3]), ("罚款金额", RISKY[4])):  # fmt: skip
        assert row[header] == "'" + sent, header
    assert all(c.data_type != "f" for c in sheet[2])  # not one formula in the file

    path = tmp_path / "penalty.rejected.xlsx"
    path.write_bytes(data)
    ((_, cells),) = list(read_rows(path))
    assert cells["企业名称"] == RISKY[1] and cells["罚款金额"] == RISKY[4]
    assert cells["备注"] == RISKY[2] and cells["错误值"] == RISKY[0]
