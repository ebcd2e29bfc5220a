"""Spreadsheet intake bounded (issue #13): zip bombs and huge sheets refused before openpyxl,
a CSV line over the limit never read whole, and rejection files safe to open in Excel/WPS."""

from __future__ import annotations

import csv
import datetime as dt
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from producers.csv_cells import escape_formula, unescape_formula
from producers.errors import SpreadsheetError
from producers.events import RecordRejection
from producers.spreadsheet import parse_spreadsheet, read_rows, write_rejections_csv
from producers.spreadsheet_limits import SpreadsheetLimits, check_xlsx_archive, size_text
from schemas.identifiers import make_uscc
from schemas.records import Department

pytestmark = pytest.mark.security

DEPT = Department(code="scjg-640000", name="宁夏回族自治区市场监督管理厅")
AT = dt.datetime(2018, 3, 9, tzinfo=dt.UTC)
USCC = make_uscc("9", "1", "640422", "43635181")
HEADERS = ["序号", "统一社会信用代码（企业注册号）", "企业名称", "作出行政处罚决定机关名称",
           "行政处罚决定书文号", "作出行政处罚决定日期", "违法行为类型", "罚款金额（万元）",
           "没收金额", "处罚种类", "备注"]  # fmt: skip
HYPERLINK = '=HYPERLINK("http://evil.example/","点击查看")'
MIB = 1024 * 1024


def row(n: int, **overrides: str) -> list[str]:
    cells = dict(zip(HEADERS, [str(n), USCC, "宁夏六盘山商贸有限公司", "宁夏市监厅",
                               f"宁市监罚〔2018〕{n}号", "2018年3月1日", "虚假宣传", "1.5", "",
                               "罚款", ""], strict=True))  # fmt: skip
    cells.update(overrides)
    return list(cells.values())


def parse(path: Path, limits: SpreadsheetLimits | None = None) -> tuple[list, list]:
    kwargs = {"limits": limits} if limits else {}
    out = list(parse_spreadsheet(path, DEPT, "penalty", emitted_at=AT, **kwargs))
    return (
        [o for o in out if not isinstance(o, RecordRejection)],
        [o for o in out if isinstance(o, RecordRejection)],
    )


# --- formula injection --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [HYPERLINK, "+86 951 1234567", "-5000", "@SUM(A1:A9)", "\tcmd", "\rcmd",
     "＝HYPERLINK(\"x\")", "＋1", "－1", "＠SUM(A1)", "  =1+1", "\u3000=1+1"],
)  # fmt: skip
def test_formula_starts_are_quoted_and_undone(value: str) -> None:
    escaped = escape_formula(value)
    assert escaped == "'" + value
    assert unescape_formula(escaped) == value


@pytest.mark.parametrize(
    "value", ["宁夏六盘山商贸有限公司", "", "1-2", "a=b", "'quoted", "2018-03-01"]
)
def test_plain_text_is_left_as_it_is(value: str) -> None:
    assert escape_formula(value) == value
    assert unescape_formula(value) == value


def test_rejections_file_quotes_formulas_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "penalty.csv"
    # A formula in a cell of a row that is rejected (its date does not exist), and in a header.
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(
            [HEADERS, row(1, 作出行政处罚决定日期="2018-02-30", 备注=HYPERLINK, 企业名称="@宁夏")]
        )
    events, rejections = parse(path)
    assert events == [] and len(rejections) == 1
    written = write_rejections_csv(path, rejections)
    assert written is not None
    with open(written, encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    cells = dict(zip(table[0], table[1], strict=True))
    assert cells["备注"] == "'" + HYPERLINK  # shown as text by Excel and WPS, still readable
    assert cells["企业名称"] == "'@宁夏"
    assert not any(c.startswith(("=", "+", "-", "@")) for r in table for c in r)
    # The department corrects the date and sends the file back: the values are the originals.
    table[1][table[0].index("作出行政处罚决定日期")] = "2018-02-28"
    with open(written, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(table)
    events, again = parse(written)
    assert again == []
    assert events[0]["payload"]["remarks"] == HYPERLINK
    assert events[0]["subject"]["name"] == "@宁夏"


# --- XLSX limits ----------------------------------------------------------------------------


def bomb(path: Path, member: str, inflated: int) -> Path:
    """A zip whose `member` inflates to `inflated` bytes of repetitive XML (a few 100 KiB)."""
    chunk = b"<row><c><v>0</v></c></row>" * (MIB // 26)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open(member, "w", force_zip64=True) as out:
            written = 0
            while written < inflated:
                piece = chunk[: inflated - written]
                out.write(piece)
                written += len(piece)
    return path


@pytest.fixture
def no_openpyxl(monkeypatch):
    """Fail the test if openpyxl is asked to open the workbook at all."""
    import openpyxl

    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl was asked to open a workbook over the limits")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


def test_a_sheet_inflating_past_its_limit_is_refused_before_openpyxl(tmp_path, no_openpyxl):
    path = bomb(tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", 101 * MIB)
    assert path.stat().st_size < 2 * MIB
    with pytest.raises(SpreadsheetError) as caught:
        list(read_rows(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: XLSX 工作表 xl/worksheets/sheet1.xml 解压后 101 MiB")
    assert "超过单个工作表上限 100 MiB" in message


def test_a_highly_compressed_part_is_refused_as_a_bomb(tmp_path, no_openpyxl):
    path = bomb(tmp_path / "strings.xlsx", "xl/sharedStrings.xml", 8 * MIB)
    with pytest.raises(
        SpreadsheetError, match=r"xl/sharedStrings.xml 压缩比 \d[\d,]* 倍"
    ) as caught:
        list(read_rows(path))
    assert "超过上限 200 倍，疑似压缩炸弹" in str(caught.value)


def test_total_size_and_row_limits_are_configurable(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    for n in range(1, 11):
        sheet.append(row(n))
    path = tmp_path / "ten.xlsx"
    workbook.save(path)
    check_xlsx_archive(path)  # the defaults let an ordinary workbook through
    assert len(parse(path)[0]) == 10
    with pytest.raises(SpreadsheetError, match=r"XLSX 解压后共 .*，超过上限 1 KiB"):
        check_xlsx_archive(path, SpreadsheetLimits(xlsx_total_bytes=1024))
    with pytest.raises(SpreadsheetError, match="超过 5 行的上限，第 5 行之后未读取"):
        parse(path, SpreadsheetLimits(max_rows=5))


def test_not_a_zip_is_refused_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SpreadsheetError, match="不是可读取的 XLSX 文件"):
        list(read_rows(path))


def test_size_text() -> None:
    assert [size_text(n) for n in (12, 1536, 16 * MIB, 303 * 1024)] == [
        "12 字节", "1.5 KiB", "16 MiB", "303 KiB",
    ]  # fmt: skip


# --- CSV lines ------------------------------------------------------------------------------


def test_a_100_mib_single_line_csv_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "one-line.csv"
    piece = ("宁夏六盘山," * 10_000).encode()
    with open(path, "wb") as f:
        while f.tell() < 100 * MIB:
            f.write(piece)
    tracemalloc.start()
    try:
        with pytest.raises(SpreadsheetError) as caught:
            list(read_rows(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (
        f"{path}: 第 1 行超过单行上限 16 MiB，未读取（是否不是 CSV 文件，或换行符丢失？）"
    )
    # Loose: one line-limit buffer and its copies, far below the file's 100 MiB.
    assert peak < 60 * MIB, f"peak {peak / MIB:.0f} MiB"


def test_a_data_line_over_the_limit_rejects_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "penalty.csv"
    lines = [",".join(HEADERS), ",".join(row(1)), ",".join(row(2, 备注="长" * 2000)),
             ",".join(row(3))]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, rejections = parse(path, SpreadsheetLimits(csv_line_bytes=1024))
    assert [e["payload"]["decision_number"] for e in events] == [
        "宁市监罚〔2018〕1号", "宁市监罚〔2018〕3号",
    ]  # fmt: skip
    [refused] = rejections
    assert refused.row_number == 3
    assert refused.code == "malformed_row"
    assert refused.reason == "第 3 行超过单行上限 1 KiB，未读取"


def test_an_unclosed_quote_cannot_grow_a_record_without_bound(tmp_path: Path) -> None:
    path = tmp_path / "penalty.csv"
    body = [",".join(HEADERS), ",".join(row(1)), '2,"' + "x" * 500]
    body += ["y" * 500] * 20  # the quote never closes
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    limits = SpreadsheetLimits(csv_line_bytes=1024, csv_record_bytes=4096)
    with pytest.raises(SpreadsheetError, match="从第 3 行起的一条记录超过 4 KiB 的上限"):
        parse(path, limits)


def wide_workbook(path: Path, rows: int, header_width: int = len(HEADERS)) -> Path:
    """Template rows, each with a stray cell at XFD (column 16,384): once every rejected row
    carried 16,384 cells, and 33 KiB of XLSX held 1.2 GiB."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADERS + [None] * (header_width - len(HEADERS)))
    for n in range(1, rows + 1):
        sheet.append([*row(n), *([None] * (16_383 - len(HEADERS))), "x"])
    workbook.save(path)
    return path


def test_a_row_over_the_column_limit_is_cut_and_rejected(tmp_path: Path) -> None:
    path = wide_workbook(tmp_path / "wide.xlsx", 3)
    events, rejections = parse(path)
    assert events == []
    assert [r.reason for r in rejections] == [
        "该行有 16,384 列，超过 256 列的上限（模板外的列请删除）"
    ] * 3
    assert all(len(r.row or {}) <= 256 for r in rejections)


def test_a_header_over_the_column_limit_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wide-header.csv"
    path.write_text(",".join(HEADERS + [f"列{i}" for i in range(300)]) + "\n", encoding="utf-8")
    with pytest.raises(SpreadsheetError, match="表头（第 1 行）有 311 列，超过 256 列的上限"):
        list(read_rows(path))
