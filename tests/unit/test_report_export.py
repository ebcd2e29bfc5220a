"""CSV and XLSX exports (formula-safe, IDs masked, round trip) and reporting periods."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from creditsync.reports.export import (
    EXCEL_MAX_CELL_CHARS,
    Sheet,
    csv_bytes,
    csv_cell,
    write_xlsx,
    xlsx_bytes,
)
from creditsync.reports.indicators import collected_categories
from creditsync.reports.periods import ReportError, previous_month, reporting_period
from producers.csv_cells import unescape_formula
from schemas.categories import WORKFLOW_CATEGORIES
from schemas.identifiers import make_resident_id

RISKY = ["=1+1", "+86 951", "-2", "@SUM(A1)", "\t=x", "＝HYPERLINK(1)", "  =cmd|' /C calc'!A0"]
SAFE = ["宁夏西吉县测试商贸有限公司", "A=B", "", "91640422MA76XXXX0X"]
ID_NUMBER = make_resident_id("640422", dt.date(1985, 7, 14), "123")


@pytest.mark.parametrize("text", RISKY)
def test_a_formula_start_is_quoted_in_csv(text):
    assert csv_cell(text) == "'" + text
    assert unescape_formula(csv_cell(text)) == text


@pytest.mark.parametrize("text", SAFE)
def test_plain_text_is_unchanged(text):
    assert csv_cell(text) == text


def test_numbers_nulls_and_structures_as_csv_cells():
    assert [csv_cell(v) for v in (None, -3, 0.25, Decimal("12.50"), True)] == [
        "", "-3", "0.25", "12.50", "true",
    ]  # fmt: skip
    assert csv_cell({"类别": "penalty"}) == '{"类别": "penalty"}'
    assert csv_cell(dt.date(2026, 11, 1)) == "2026-11-01"


def test_csv_round_trip_gives_back_every_value_as_text():
    rows = [[t, n] for n, t in enumerate(RISKY + SAFE)]
    data = csv_bytes(Sheet("t", ["值", "序号"], rows))
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese only with the BOM
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert read[0] == ["值", "序号"]
    assert [(unescape_formula(r[0]), int(r[1])) for r in read[1:]] == [(t, n) for t, n in rows]


def test_xlsx_round_trip_keeps_types_and_never_writes_a_formula():
    aware = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
    rows = [
        ['=HYPERLINK("http://x")', 42, 0.6667, dt.date(2026, 11, 30), aware, 2**70, None, True],
        ["西吉县", -1, Decimal("3.5"), dt.date(1999, 1, 1), aware, 7, "", False],
    ]
    headers = ["text", "int", "share", "day", "at", "big", "null", "flag"]
    book = load_workbook(
        io.BytesIO(xlsx_bytes([Sheet("月报", headers, rows, about=[("报告期", "2026-11")])]))
    )
    assert book.sheetnames == ["月报", "说明-月报"]
    sheet = book["月报"]
    got = list(sheet.iter_rows(values_only=True))
    assert got[0] == tuple(headers)
    first, second = got[1], got[2]
    assert sheet["A2"].data_type == "s"
    assert unescape_formula(first[0]) == '=HYPERLINK("http://x")'
    assert first[1:4] == (42, 0.6667, dt.datetime(2026, 11, 30))
    assert first[4] == "2026-11-03T02:00:00+00:00"
    assert first[5] == str(2**70)  # past Excel's 15 digits: text, not a rounded number
    assert (first[6], first[7]) == (None, True)
    assert second[:3] == ("西吉县", -1, 3.5)
    assert list(book["说明-月报"].iter_rows(values_only=True)) == [("报告期", "2026-11")]


@pytest.mark.security
def test_exports_never_carry_a_full_id_number():
    sheet = Sheet("t", ["备注"], [[f"法定代表人证件 {ID_NUMBER}"]])
    text = csv_bytes(sheet).decode("utf-8-sig")
    assert ID_NUMBER not in text and ID_NUMBER[:6] in text
    buffer = io.BytesIO(xlsx_bytes([sheet]))
    value = load_workbook(buffer).active["A2"].value
    assert ID_NUMBER not in value and "*" in value


def test_a_cell_past_excels_limit_is_refused_not_cut(tmp_path):
    sheet = Sheet("t", ["payload_json"], [["x" * (EXCEL_MAX_CELL_CHARS + 1)]])
    with pytest.raises(ReportError, match=r"payload_json.*CSV"):
        write_xlsx(tmp_path / "t.xlsx", [sheet])


def test_progress_reports_the_rows_written(tmp_path):
    seen: list[int] = []
    rows = [[n] for n in range(1_200)]
    assert write_xlsx(tmp_path / "p.xlsx", [Sheet("t", ["n"], rows)], seen.append) == 1_200
    assert seen == [500, 1_000, 1_200]


def test_reporting_period_and_its_due_date():
    november = reporting_period("2026-11")
    assert (november.first_day, november.last_day) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert november.due_before == dt.date(2026, 12, 25)
    assert reporting_period("2026-12").due_before == dt.date(2027, 1, 25)
    assert reporting_period("2028-02").last_day == dt.date(2028, 2, 29)
    assert previous_month(dt.date(2026, 12, 2)) == "2026-11"
    assert previous_month(dt.date(2027, 1, 31)) == "2026-12"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "202611", "2026-11'--", ""])
def test_a_month_that_is_not_yyyy_mm_is_refused(text):
    with pytest.raises(ReportError, match="YYYY-MM"):
        reporting_period(text)


def test_categories_counted_are_generic_over_the_category_list():
    counted = collected_categories(["penalty", "chattel_mortgage_from_the_future"])
    assert counted[0] == "registration" and "penalty" in counted
    assert not set(WORKFLOW_CATEGORIES) & set(counted)
    assert counted[-1] == "chattel_mortgage_from_the_future"
