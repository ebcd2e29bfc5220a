"""Spreadsheet intake: encodings, XLSX, header rows, rejections file and the samples."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from producers.errors import CategoryNotRecognised, HeaderError, SpreadsheetError
from producers.events import RecordRejection
from producers.spreadsheet import (
    detect_encoding,
    parse_spreadsheet,
    read_rows,
    rejections_path,
    write_rejections_csv,
)
from schemas.identifiers import make_registration_number, make_uscc
from schemas.records import Department

DEPT = Department(code="scjg-640000", name="宁夏回族自治区市场监督管理厅")
AT = dt.datetime(2018, 3, 9, tzinfo=dt.UTC)
SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"
USCC = make_uscc("9", "1", "640422", "43635181")
REG = make_registration_number("640422", "66865727")
HEADERS = ["序号", "统一社会信用代码（企业注册号）", "企业名称", "作出行政处罚决定机关名称",
           "行政处罚决定书文号", "作出行政处罚决定日期", "违法行为类型", "罚款金额（万元）",
           "没收金额", "处罚种类", "备注"]  # fmt: skip
ROWS = [
    ["1", USCC, "宁夏六盘山商贸有限公司", "宁夏市监厅", "宁市监罚〔2018〕10号", "2018年3月1日",
     "虚假宣传", "1.5", "", "罚款", "备注：已缴纳"],
    ["2", REG, "宁夏六盘山商贸有限公司", "宁夏市监厅", "宁市监罚〔2018〕11号", "2018/3/2",
     "无证经营", "2", "300元", "罚款", ""],
]  # fmt: skip


def write_csv(path: Path, rows: list[list[object]], encoding: str) -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def events_and_rejections(path: Path, category: str | None = "penalty"):
    out = list(parse_spreadsheet(path, DEPT, category, emitted_at=AT))  # type: ignore[arg-type]
    events = [o for o in out if not isinstance(o, RecordRejection)]
    return events, [o for o in out if isinstance(o, RecordRejection)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_each_encoding_agencies_send(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "penalty.csv", [HEADERS, *ROWS], encoding)
    events, rejections = events_and_rejections(path, None)
    assert rejections == []
    assert [e["subject"]["name"] for e in events] == ["宁夏六盘山商贸有限公司"] * 2
    assert events[0]["payload"]["remarks"] == "备注：已缴纳"
    # The header says 万元: bare numbers are ten-thousands, 300元 stays 300 yuan.
    assert [e["payload"]["fine_amount"] for e in events] == [
        Decimal("15000.00"),
        Decimal("20000.00"),
    ]
    assert events[1]["payload"]["confiscation_amount"] == Decimal("300.00")
    assert events[1]["subject"]["registration_number"] == REG


def test_gb18030_past_the_first_chunk_is_still_read(tmp_path: Path) -> None:
    padding = [[str(i), USCC, "宁夏六盘山商贸有限公司" * 30, "机关", f"文号{i}", "2018-03-01",
                "类型", "1", "", "罚款", ""] for i in range(400)]  # fmt: skip
    path = write_csv(tmp_path / "big.csv", [HEADERS, *padding], "gb18030")
    assert path.stat().st_size > 64 * 1024
    events, rejections = events_and_rejections(path)
    assert (len(events), len(rejections)) == (400, 0)


def test_a_corrupt_line_rejects_its_row_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [HEADERS, *ROWS], "utf-8")
    lines = path.read_bytes().split(b"\r\n")
    lines[1] = lines[1].replace("宁夏市监厅".encode(), b"\xff\xfe\xfd")  # not UTF-8
    path.write_bytes(b"\r\n".join(lines))
    events, rejections = events_and_rejections(path)
    assert [e["record_key"] for e in events] == ["宁市监罚〔2018〕11号"]
    assert rejections[0].record_ref == "row 2"
    assert "not readable as utf-8-sig text" in rejections[0].reason


def test_xlsx_with_title_row_date_cells_and_numbers(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["行政处罚信息公示表"])  # the title row above the header
    sheet.append(HEADERS)
    sheet.append([1, USCC, "宁夏六盘山商贸有限公司", "宁夏市监厅", "宁市监罚〔2018〕10号",
                  dt.datetime(2018, 3, 1), "虚假宣传", 1.5, None, "罚款", None])  # fmt: skip
    sheet.append([])
    sheet.append([3, REG, "x", "宁夏市监厅", "宁市监罚〔2018〕12号", 43160, "虚假宣传", 0.25,
                  None, "罚款", None])  # fmt: skip
    path = tmp_path / "penalty.xlsx"
    workbook.save(path)
    rows = list(read_rows(path))
    assert [number for number, _ in rows] == [3, 4, 5]
    events, rejections = events_and_rejections(path, None)
    assert rejections == []
    assert [e["occurred_at"] for e in events] == [dt.date(2018, 3, 1), dt.date(2018, 3, 1)]
    assert [e["payload"]["fine_amount"] for e in events] == [
        Decimal("15000.00"),
        Decimal("2500.00"),
    ]
    assert events[0]["source_sequence"] < events[1]["source_sequence"]


def test_rows_are_numbered_as_excel_shows_them(tmp_path: Path) -> None:
    rows = [HEADERS, ROWS[0], [], ROWS[1], ["" for _ in HEADERS]]
    path = write_csv(tmp_path / "p.csv", rows, "utf-8")
    assert [n for n, _ in read_rows(path)] == [2, 3, 4, 5]
    events, _ = events_and_rejections(path)
    assert len(events) == 2  # blank rows are not records


def test_cells_beyond_the_header_reject_the_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [HEADERS, [*ROWS[0], "多余"], ROWS[1][:5]], "utf-8")
    _, rejections = events_and_rejections(path)
    assert "value in a column without a header (<第12列>)" in rejections[0].reason
    # A short row simply has empty cells: here the required date is missing.
    assert rejections[1].field == "decided_on" and rejections[1].code == "required"


def test_file_level_problems_raise(tmp_path: Path) -> None:
    dup = write_csv(tmp_path / "dup.csv", [[*HEADERS, "备注"], ROWS[0]], "utf-8")
    with pytest.raises(HeaderError, match="column '备注' appears twice"):
        list(parse_spreadsheet(dup, DEPT))
    unknown = write_csv(tmp_path / "u.csv", [["名字", "年龄"], ["a", "1"]], "utf-8")
    with pytest.raises(CategoryNotRecognised):
        list(parse_spreadsheet(unknown, DEPT))
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(SpreadsheetError, match=r"save it as \.xlsx or CSV"):
        list(read_rows(xls))
    with pytest.raises(SpreadsheetError, match="no header row"):
        list(read_rows(write_csv(tmp_path / "empty.csv", [], "utf-8")))


def test_rejections_file_can_be_corrected_and_ingested_again(tmp_path: Path) -> None:
    bad = [*ROWS[1]]
    bad[5] = "2018-02-30"
    path = write_csv(tmp_path / "penalty.csv", [HEADERS, ROWS[0], bad], "gb18030")
    _, rejections = events_and_rejections(path)
    written = write_rejections_csv(path, rejections)
    assert written == rejections_path(path) == tmp_path / "penalty.csv.rejected.csv"
    assert written.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    with open(written, encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    assert table[0][:4] == ["行号", "错误字段", "错误值", "错误原因"]
    assert table[1][:3] == ["3", "作出行政处罚决定日期 (decided_on)", "2018-02-30"]
    assert "no such day" in table[1][3]
    assert table[1][4:] == bad
    table[1][4 + 5] = "2018-02-28"  # the department corrects the date
    with open(written, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(table)
    events, again = events_and_rejections(written)
    assert again == [] and events[0]["occurred_at"] == dt.date(2018, 2, 28)


def test_no_rejections_removes_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rejections_path(path).write_text("old")
    assert write_rejections_csv(path, []) is None
    assert not rejections_path(path).exists()


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.csv")), ids=lambda p: p.stem)
def test_every_sample_parses_with_its_category_inferred(sample: Path) -> None:
    events, rejections = events_and_rejections(sample, None)
    assert {e["category"] for e in events} == {sample.stem}
    kinds = [k for e in events for k, v in e["subject"].items() if v and k != "name"]
    if sample.stem != "registration":
        assert {"uscc", "registration_number", "organisation_code"} <= set(kinds)
    if sample.stem == "penalty":
        assert [r.code for r in rejections] == ["invalid_code"]
    else:
        assert rejections == []


@pytest.mark.parametrize(
    ("head", "encoding"),
    [
        ("序号,企业名称\n1,六盘山\n".encode(), "utf-8-sig"),
        ("\ufeff序号,企业名称\n".encode(), "utf-8-sig"),
        ("序号,企业名称\n1,六盘山\n".encode("gb18030"), "gb18030"),
        (b"serial,name\n1,abc\n", "utf-8-sig"),
        ("序号,企业名称\n".encode() + b"1,\xff\xfe\n", "utf-8-sig"),  # one corrupt line
        ("序号".encode()[:-1], "utf-8-sig"),  # a chunk ending inside a character
    ],
)
def test_detect_encoding(head: bytes, encoding: str) -> None:
    assert detect_encoding(head) == encoding


def test_utf16_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("序号,企业名称\n".encode("utf-16"))
    with pytest.raises(SpreadsheetError, match="save the file as CSV UTF-8"):
        list(read_rows(path))


def test_a_sheet_read_for_its_headers_only_leaves_no_file_open(tmp_path: Path) -> None:
    # `ingest_file` reads the headers alone to check the category before publishing.
    import gc
    import warnings

    from producers.spreadsheet import Sheet

    workbook = Workbook()
    workbook.active.append(HEADERS)
    for row in ROWS * 20:
        workbook.active.append(row)
    path = tmp_path / "处罚.xlsx"
    workbook.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with Sheet(path) as sheet:
            assert sheet.headers == HEADERS
        del sheet
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
