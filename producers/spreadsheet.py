"""Spreadsheet intake: CSV (UTF-8, UTF-8 with BOM, GB18030) and XLSX files in the template
layout, read row by row in bounded memory, each row becoming an event or a rejection.

Excel on a Chinese Windows machine saves CSV as GB18030 (code page 936, which GB18030
extends); "CSV UTF-8" adds a BOM; other systems write plain UTF-8. The encoding is decided on
the first 64 KiB and every line is then decoded on its own, so one corrupt line rejects one
row instead of failing the file. Rejected rows go to PATH.rejected.csv with the original
cells, ready to be corrected and ingested again.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from producers.csv_cells import unescape_formula
from producers.errors import HeaderError, SpreadsheetError
from producers.events import (
    FieldProblem,
    RecordRejection,
    build_intake_event,
    spreadsheet_sequence,
)
from producers.rejections_file import (  # noqa: F401 — re-exported, imported from here
    RejectionsFile,
    rejections_path,
    write_rejections_csv,
)
from producers.spreadsheet_limits import (
    DEFAULT_LIMITS,
    SpreadsheetLimits,
    check_xlsx_archive,
    line_too_long,
    record_too_long,
    size_text,
    too_many_columns,
    too_many_rows,
)
from producers.templates import infer_category, map_headers
from producers.values import is_blank
from schemas.categories import Category
from schemas.records import Department, IntakeEvent

ADAPTER = "spreadsheet/1"
SNIFF_BYTES = 64 * 1024
# The csv module's default field limit (128 KiB) would raise on a long cell; a cell this
# size is still bounded memory, and the text parser rejects it with a reason.
CSV_FIELD_LIMIT = DEFAULT_LIMITS.csv_line_bytes
_SKIP_CHUNK = 1024 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"

Row = tuple[int, dict[str, Any]]


def detect_encoding(head: bytes) -> str:
    """utf-8-sig when the first chunk reads as UTF-8 (with or without BOM), else gb18030.

    Judged line by line: Chinese text in GB18030 is practically never valid UTF-8, so one
    non-ASCII line that decodes as UTF-8 settles it, and a corrupt line or two in a UTF-8
    file does not turn the whole file into mojibake."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ValueError("UTF-16 text; save the file as CSV UTF-8 or as XLSX")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines.pop()  # the chunk may end inside a line (and inside a character)
    foreign = [line for line in lines if not line.isascii()]
    if not foreign:
        return "utf-8-sig"
    for line in foreign:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        return "utf-8-sig"
    if len(lines) == 1:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return "gb18030"
        return "utf-8-sig"
    return "gb18030"


def _cell_name(index: int) -> str:
    return f"<第{index + 1}列>"  # a column without a header; never a template name


class Sheet:
    """An open spreadsheet: its header row and an iterator over its data rows.

    Rows are `(row_number, {header: value})`, numbered as Excel shows them (the header row
    and blank rows count). `unreadable` holds the numbers of CSV rows with bytes that are
    not text in the file's encoding; `headerless` the keys given to cells with no header;
    `too_long` the CSV rows (→ line number) over the line limit, which were never read;
    `too_wide` the rows (→ their width) over the column limit, cut to it."""

    def __init__(self, path: str | Path, limits: SpreadsheetLimits = DEFAULT_LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        self.too_long: dict[int, int] = {}
        self.too_wide: dict[int, int] = {}
        self.headers: list[str] = []
        self.header_row = 0
        self.encoding: str | None = None
        self.unreadable: set[int] = set()
        self.headerless: set[str] = set()
        self._file: IO[bytes] | None = None
        self._workbook: Any = None
        self._rows: Iterator[tuple[int, list[Any]]] = iter(())

    def __enter__(self) -> Sheet:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        # A sheet read only for its headers leaves openpyxl's row generator open, and with it
        # the worksheet's zip member, which keeps the file open after the workbook closes.
        close_rows = getattr(self._rows, "close", None)
        if close_rows is not None:
            close_rows()
        if self._workbook is not None:
            self._workbook.close()  # read-only workbooks hold the file open until closed
            self._workbook = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 — closed in close()
            head = self._file.read(SNIFF_BYTES)
        except OSError as exc:
            raise SpreadsheetError(str(self.path), f"cannot read: {exc.strerror}") from exc
        if head.startswith(_XLS_MAGIC):
            raise SpreadsheetError(
                str(self.path), "an old binary .xls workbook; save it as .xlsx or CSV"
            )
        if head.startswith(_XLSX_MAGIC) or self.path.suffix.lower() in (".xlsx", ".xlsm"):
            self._file.close()
            self._file = None
            check_xlsx_archive(self.path, self.limits)  # before openpyxl inflates anything
            raw_rows = self._xlsx_rows()
        else:
            try:
                self.encoding = detect_encoding(head)
            except ValueError as exc:
                raise SpreadsheetError(str(self.path), str(exc)) from exc
            self._file.seek(0)
            raw_rows = self._csv_rows(self._file, head)
        raw_rows = self._shaped(raw_rows)
        for number, values in raw_rows:
            if number in self.too_long:  # no header can be found past a line never read
                raise line_too_long(self.path, self.too_long[number], self.limits)
            if number in self.too_wide:
                raise too_many_columns(self.path, number, self.too_wide[number], self.limits)
            # Templates often carry a title row (「行政处罚信息表」) above the header.
            if sum(1 for v in values if not is_blank(v)) >= 2:
                self.header_row = number
                self.headers = [("" if v is None else str(v)).strip() for v in values]
                break
        else:
            raise SpreadsheetError(str(self.path), "no header row (the file has no data)")
        seen: dict[str, int] = {}
        for index, header in enumerate(self.headers):
            if header and header in seen:
                raise HeaderError(
                    f"{self.path}: column {header!r} appears twice "
                    f"(columns {seen[header] + 1} and {index + 1})"
                )
            seen[header] = index
        self._rows = raw_rows

    def __iter__(self) -> Iterator[Row]:
        keys = [h or _cell_name(i) for i, h in enumerate(self.headers)]
        self.headerless.update(k for k, h in zip(keys, self.headers, strict=True) if not h)
        for number, values in self._rows:
            if len(values) > len(keys):
                extra = [_cell_name(i) for i in range(len(keys), len(values))]
                self.headerless.update(extra)
                keys = keys + extra
            cells = dict(zip(keys, values, strict=False))
            for key in keys[len(values) :]:
                cells[key] = None  # a short row: the missing cells are empty
            yield number, cells

    def _shaped(self, rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
        """Rows without trailing empty cells, at most `max_columns` wide (a wider row is
        cut and noted in `too_wide`: one cell at column XFD made every row 16,384 cells),
        with the formula guards of a corrected PATH.rejected.csv undone ('=… → =…)."""
        limit = self.limits.max_columns
        for number, values in rows:
            end = len(values)
            while end and is_blank(values[end - 1]):
                end -= 1
            if end > limit:
                self.too_wide[number] = end
                end = limit
            yield number, [_unguard(v) for v in values[:end]]

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook

        try:
            self._workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile, KeyError, ValueError … alike
            raise SpreadsheetError(str(self.path), f"not a readable XLSX workbook: {exc}") from exc
        sheet = self._workbook.worksheets[0]
        # Some generators write a wrong <dimension>; read_only mode would stop at it.
        sheet.reset_dimensions()
        return self._bounded(enumerate(sheet.iter_rows(values_only=True), 1))

    def _bounded(self, rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, list[Any]]]:
        for number, values in rows:
            if number > self.limits.max_rows:
                raise too_many_rows(self.path, self.limits)
            yield number, list(values)

    def _csv_rows(self, file: IO[bytes], head: bytes) -> Iterator[tuple[int, list[Any]]]:
        csv.field_size_limit(max(csv.field_size_limit(), self.limits.csv_line_bytes))
        first_line = head.split(b"\n", 1)[0]
        delimiter = "\t" if b"\t" in first_line and b"," not in first_line else ","
        bad_lines: set[int] = set()
        long_lines: set[int] = set()
        encoding = self.encoding or "utf-8-sig"
        line_limit = self.limits.csv_line_bytes
        record_bytes = 0

        def lines() -> Iterator[str]:
            # Newline (0x0A) never occurs inside a UTF-8 or GB18030 multi-byte character,
            # so splitting the bytes first and decoding each line is safe. readline(limit)
            # keeps a line with no end (a 100 MiB single line) from being read whole.
            nonlocal record_bytes
            number = 0
            while line := file.readline(line_limit + 1):
                number += 1
                record_bytes += len(line)
                if len(line) > line_limit:
                    _skip_line(file, line)
                    long_lines.add(number)
                    yield "\n"  # an empty row stands for it; the row is rejected
                    continue
                if record_bytes > self.limits.csv_record_bytes:
                    raise record_too_long(self.path, previous_line + 1, self.limits)
                try:
                    yield line.decode(encoding)
                except UnicodeDecodeError:
                    bad_lines.add(number)
                    yield line.decode(encoding, errors="replace")

        reader = csv.reader(lines(), delimiter=delimiter)
        number, previous_line = 0, 0
        while True:
            number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.unreadable.add(number)
                values = [f"<unreadable CSV row: {exc}>"]
            if any(previous_line < n <= reader.line_num for n in bad_lines):
                self.unreadable.add(number)
            long = [n for n in long_lines if previous_line < n <= reader.line_num]
            if long:
                self.too_long[number] = long[0]
                long_lines.difference_update(long)
            previous_line = reader.line_num
            record_bytes = 0
            if number > self.limits.max_rows:
                raise too_many_rows(self.path, self.limits)
            yield number, list(values)


def _skip_line(file: IO[bytes], read: bytes) -> None:
    """Read past the rest of a line in bounded chunks, keeping none of it."""
    while read and not read.endswith(b"\n"):
        read = file.readline(_SKIP_CHUNK)


def _unguard(value: Any) -> Any:
    return unescape_formula(value) if isinstance(value, str) else value


def read_rows(path: str | Path, limits: SpreadsheetLimits = DEFAULT_LIMITS) -> Iterator[Row]:
    """The data rows of a CSV or XLSX file as `(row_number, {header: value})`, streaming."""
    with Sheet(path, limits) as sheet:
        yield from sheet


def parse_spreadsheet(
    path: str | Path,
    department: Department,
    category: Category | None = None,
    *,
    adapter: str = ADAPTER,
    emitted_at: dt.datetime | None = None,
    allow_unknown_columns: bool = False,
    limits: SpreadsheetLimits = DEFAULT_LIMITS,
) -> Iterator[IntakeEvent | RecordRejection]:
    """Every non-blank row of the file as an IntakeEvent or a RecordRejection, in order.

    The category is inferred from the headers when not given. A file whose headers fit no
    template raises HeaderError before any row is read; row problems never raise (a file
    over `limits` raises SpreadsheetError where it meets the limit)."""
    emitted = emitted_at or dt.datetime.now(dt.UTC)
    with Sheet(path, limits) as sheet:
        chosen = category or infer_category(sheet.headers)
        header_map = map_headers(sheet.headers, chosen, allow_unknown=allow_unknown_columns)
        for number, cells in sheet:
            refused = number in sheet.too_long or number in sheet.too_wide
            if not refused and all(is_blank(v) for v in cells.values()):
                continue
            ref = f"row {number}"
            problem = _row_problem(sheet, number, cells)
            if problem is not None:
                yield RecordRejection.of(ref, [problem], cells, number)
                continue
            yield build_intake_event(
                chosen,
                header_map.apply(cells),
                department,
                adapter,
                spreadsheet_sequence(emitted, number),
                emitted,
                record_ref=ref,
                scales=header_map.scales,
                row=cells,
                row_number=number,
            )


def _row_problem(sheet: Sheet, number: int, cells: dict[str, Any]) -> FieldProblem | None:
    if number in sheet.too_wide:
        return FieldProblem(
            "(row)",
            "（整行）",
            None,
            f"该行有 {sheet.too_wide[number]:,} 列，超过 {sheet.limits.max_columns} 列的上限"
            "（模板外的列请删除）",
            "malformed_row",
        )
    if number in sheet.too_long:
        return FieldProblem(
            "(row)",
            "（整行）",
            None,
            f"第 {sheet.too_long[number]} 行超过单行上限 "
            f"{size_text(sheet.limits.csv_line_bytes)}，未读取",
            "malformed_row",
        )
    if number in sheet.unreadable:
        what = f"{sheet.encoding} text" if sheet.encoding else "a CSV row"
        return FieldProblem(
            "(row)", "（整行）", None, f"the row is not readable as {what}", "malformed_row"
        )
    stray = [k for k in sheet.headerless if not is_blank(cells.get(k))]
    if stray:
        return FieldProblem(
            "(row)",
            "（整行）",
            cells[stray[0]],
            f"value in a column without a header ({', '.join(sorted(stray))})",
            "malformed_row",
        )
    return None
