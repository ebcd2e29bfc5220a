"""Size limits of an uploaded spreadsheet, checked before a parser allocates anything.

An XLSX is a zip: 303 KiB on disk once took openpyxl 655 MiB, because its parts inflate a
thousandfold and openpyxl parses shared strings and styles whole even in read-only mode. The
zip's central directory declares each part's inflated size, and Python's zipfile never
inflates past it (the CRC check fails first), so the declared sizes are checked here and
trusted. A CSV line is read at most `csv_line_bytes` at a time (spreadsheet.py).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from producers.errors import SpreadsheetError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpreadsheetLimits:
    """What one file may hold; every refusal names the limit it met."""

    xlsx_total_bytes: int = 200 * MIB  # all parts inflated
    xlsx_sheet_bytes: int = 100 * MIB  # one xl/worksheets/*.xml inflated
    xlsx_part_bytes: int = 64 * MIB  # any other part (sharedStrings.xml, styles.xml …)
    xlsx_parts: int = 10_000
    # Inflated / compressed, for parts over 1 MiB: template sheets compress 5-30 times.
    xlsx_ratio: int = 200
    max_rows: int = 1_000_000
    # Templates have at most a few dozen columns; Excel's own limit is 16,384.
    max_columns: int = 256
    # The csv module's field limit is raised to this too: a longer cell is refused.
    csv_line_bytes: int = 16 * MIB
    # One CSV record (a quoted cell may span lines): beyond this the file is refused.
    csv_record_bytes: int = 32 * MIB


DEFAULT_LIMITS = SpreadsheetLimits()
_RATIO_FROM_BYTES = MIB


def size_text(n: int) -> str:
    """Bytes as people read them: 16 MiB, 303 KiB, 12 字节."""
    for unit, size in (("GiB", MIB * 1024), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} 字节"


def check_xlsx_archive(path: str | Path, limits: SpreadsheetLimits = DEFAULT_LIMITS) -> None:
    """SpreadsheetError when the workbook's declared parts exceed `limits` (a zip bomb or a
    workbook too large to read), or when it is not a zip at all."""
    name = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SpreadsheetError(name, f"不是可读取的 XLSX 文件（zip 结构损坏）：{exc}") from exc
    advice = "请拆分文件，或另存为 CSV 后再报送"
    if len(parts) > limits.xlsx_parts:
        raise SpreadsheetError(
            name, f"XLSX 含 {len(parts):,} 个部件，超过上限 {limits.xlsx_parts:,}；{advice}"
        )
    total = 0
    for part in parts:
        size = part.file_size
        total += size
        sheet = part.filename.startswith("xl/worksheets/")
        limit = limits.xlsx_sheet_bytes if sheet else limits.xlsx_part_bytes
        what = "工作表" if sheet else "部件"
        if size > limit:
            raise SpreadsheetError(
                name,
                f"XLSX {what} {part.filename} 解压后 {size_text(size)}，"
                f"超过单个{what}上限 {size_text(limit)}；{advice}",
            )
        if size > _RATIO_FROM_BYTES and size > limits.xlsx_ratio * max(part.compress_size, 1):
            raise SpreadsheetError(
                name,
                f"XLSX 部件 {part.filename} 压缩比 {size // max(part.compress_size, 1):,} 倍"
                f"（{size_text(part.compress_size)} 解压为 {size_text(size)}），"
                f"超过上限 {limits.xlsx_ratio} 倍，疑似压缩炸弹，未读取",
            )
    if total > limits.xlsx_total_bytes:
        raise SpreadsheetError(
            name,
            f"XLSX 解压后共 {size_text(total)}，超过上限 {size_text(limits.xlsx_total_bytes)}；"
            f"{advice}",
        )


def too_many_rows(path: str | Path, limits: SpreadsheetLimits) -> SpreadsheetError:
    return SpreadsheetError(
        str(path),
        f"超过 {limits.max_rows:,} 行的上限，第 {limits.max_rows:,} 行之后未读取；"
        "请拆分为多个文件报送",
    )


def too_many_columns(
    path: str | Path, row: int, width: int, limits: SpreadsheetLimits
) -> SpreadsheetError:
    return SpreadsheetError(
        str(path), f"表头（第 {row} 行）有 {width:,} 列，超过 {limits.max_columns} 列的上限"
    )


def line_too_long(path: str | Path, line: int, limits: SpreadsheetLimits) -> SpreadsheetError:
    return SpreadsheetError(
        str(path),
        f"第 {line} 行超过单行上限 {size_text(limits.csv_line_bytes)}，未读取"
        "（是否不是 CSV 文件，或换行符丢失？）",
    )


def record_too_long(path: str | Path, line: int, limits: SpreadsheetLimits) -> SpreadsheetError:
    return SpreadsheetError(
        str(path),
        f"从第 {line} 行起的一条记录超过 {size_text(limits.csv_record_bytes)} 的上限"
        "（可能是引号未闭合），文件未读完",
    )


__all__ = [
    "DEFAULT_LIMITS",
    "SpreadsheetLimits",
    "check_xlsx_archive",
    "line_too_long",
    "record_too_long",
    "size_text",
    "too_many_columns",
    "too_many_rows",
]
