"""Tables as CSV and XLSX files: formula-safe, personal IDs masked, within Excel's limits.

Every text cell goes through producers.csv_cells.escape_formula (a cell such as
`=HYPERLINK(…)` that a department sent must not run when an analyst opens the export) and
schemas.personal_ids.mask_resident_ids (analytics never hold a full ID number; an XLSX is
binary, past the HTTP server's text guard, so the mask is applied here). CSV is UTF-8 with a
byte-order mark, which Excel and WPS need to read Chinese. XLSX is written by openpyxl in
write-only mode (rows streamed, not held as cell objects).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from creditsync.reports.periods import ReportError
from producers.csv_cells import escape_formula
from schemas.personal_ids import mask_resident_ids

FORMATS = ("csv", "xlsx")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel's own limits (a sheet of 1,048,576 rows including the header; 32,767 characters a
# cell). A table past them is refused with advice, never cut short.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_CHARS = 32_767
# Excel keeps 15 significant digits: larger integers (UInt256 versions, offsets) are text.
_EXACT_INT = 2**53
Progress = Callable[[int], None]  # called with the number of rows written so far


@dataclass(frozen=True, slots=True)
class Sheet:
    """One table: a sheet of an XLSX, or the whole of a CSV."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    # Lines of a 说明 sheet (XLSX only): title, reporting period, source, notes.
    about: Sequence[tuple[str, str]] = field(default_factory=tuple)


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: empty for NULL, numbers as written, text formula-safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return escape_formula(mask_resident_ids(_text(value)))


def xlsx_cell(value: Any, *, row: int = 0, column: str = "") -> Any:
    """A value as an openpyxl cell value: numbers, dates and booleans as such, text
    formula-safe (openpyxl would write a text starting with `=` as a formula)."""
    if value is None or isinstance(value, bool | float | Decimal):
        return value
    if isinstance(value, int):
        return value if -_EXACT_INT < value < _EXACT_INT else str(value)
    if isinstance(value, dt.datetime):
        # openpyxl refuses aware datetimes; the ISO text keeps the offset readable.
        return value.isoformat() if value.tzinfo else value
    if isinstance(value, dt.date):
        return value
    text = escape_formula(mask_resident_ids(_text(value)))
    if len(text) > EXCEL_MAX_CELL_CHARS:
        raise ReportError(
            f"第 {row} 行“{column}”列有 {len(text):,} 个字符，超过 Excel 单元格上限 "
            f"{EXCEL_MAX_CELL_CHARS:,}；请改用 CSV 导出"
        )
    return text


def write_csv(out: IO[str], sheet: Sheet, progress: Progress | None = None) -> int:
    """The sheet as CSV to a text stream (open it with newline=''); the rows written."""
    writer = csv.writer(out)
    writer.writerow([csv_cell(h) for h in sheet.headers])
    written = 0
    for written, row in enumerate(sheet.rows, start=1):
        writer.writerow([csv_cell(v) for v in row])
        if progress is not None and written % 500 == 0:
            progress(written)
    if progress is not None:
        progress(written)
    return written


def csv_bytes(sheet: Sheet) -> bytes:
    """The sheet as a UTF-8 CSV file with the byte-order mark Excel needs for Chinese."""
    buffer = io.StringIO(newline="")
    write_csv(buffer, sheet)
    return buffer.getvalue().encode("utf-8-sig")


def _sheet_title(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ , unique in the workbook.
    clean = "".join("_" if c in "[]:*?/\\" else c for c in title)[:31] or "Sheet"
    name, n = clean, 2
    while name in used:
        name = f"{clean[:28]}({n})"
        n += 1
    used.add(name)
    return name


def write_xlsx(
    target: str | Path | IO[bytes], sheets: Iterable[Sheet], progress: Progress | None = None
) -> int:
    """The sheets as one workbook (with a 说明 sheet when a sheet has `about` lines); the
    data rows written. ReportError when a sheet or a cell exceeds Excel's limits."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    try:
        total = _fill(book, sheets, progress)
    except BaseException:
        for ws in book.worksheets:
            ws.close()  # ends its row writer, which would otherwise complain when collected
        raise
    book.save(target)
    return total


def _fill(book: Any, sheets: Iterable[Sheet], progress: Progress | None) -> int:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    used: set[str] = set()
    total = 0
    for sheet in sheets:
        if len(sheet.rows) + 1 > EXCEL_MAX_ROWS:
            raise ReportError(
                f"{sheet.title}：{len(sheet.rows):,} 行超过 Excel 工作表上限 "
                f"{EXCEL_MAX_ROWS - 1:,} 行；请改用 CSV 导出"
            )
        ws = book.create_sheet(_sheet_title(sheet.title, used))
        header = []
        for name in sheet.headers:
            cell = WriteOnlyCell(ws, value=xlsx_cell(name, row=1, column=str(name)))
            cell.font = Font(bold=True)
            header.append(cell)
        ws.append(header)
        for n, row in enumerate(sheet.rows, start=2):
            ws.append(
                [
                    xlsx_cell(v, row=n, column=str(h))
                    for v, h in zip(row, sheet.headers, strict=True)
                ]
            )
            total += 1
            if progress is not None and total % 500 == 0:
                progress(total)
        if sheet.about:
            about = book.create_sheet(_sheet_title(f"说明-{sheet.title}", used))
            for key, value in sheet.about:
                about.append([xlsx_cell(key), xlsx_cell(value)])
    if progress is not None:
        progress(total)
    return total


def xlsx_bytes(sheets: Iterable[Sheet]) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, sheets)
    return buffer.getvalue()


__all__ = [
    "CSV_MEDIA_TYPE",
    "EXCEL_MAX_CELL_CHARS",
    "EXCEL_MAX_ROWS",
    "FORMATS",
    "XLSX_MEDIA_TYPE",
    "Sheet",
    "csv_bytes",
    "csv_cell",
    "write_csv",
    "write_xlsx",
    "xlsx_bytes",
    "xlsx_cell",
]
