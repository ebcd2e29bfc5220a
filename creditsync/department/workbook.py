"""Refused rows as an XLSX in the national template, with the reason in front of each row.

The four leading columns (行号, 错误字段, 错误值, 错误原因) are ones the template mapping
ignores (producers.templates.REJECTION_COLUMNS), so the corrected workbook is ingested again
as it is; the record keys stay the same, so the corrected rows supersede the refused ones.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from producers.csv_cells import escape_formula
from producers.templates import REJECTION_COLUMNS
from schemas.categories import (
    SERIAL_HEADER,
    SUBJECT_CODE_HEADER,
    SUBJECT_NAME_HEADER,
    category_spec,
)


def template_headers(category: str) -> list[str]:
    """The national template's columns of a category, as producers/samples write them."""
    own = [f.chinese for f in category_spec(category).fields]
    if category == "registration":
        return own
    return [SERIAL_HEADER, SUBJECT_CODE_HEADER, SUBJECT_NAME_HEADER, *own]


def _cell(value: Any) -> Any:
    # A cell that Excel or WPS would read as a formula is kept as text (formula injection):
    # the same guard as every file the project writes (tab, CR, full-width ＝＋－＠, leading
    # spaces), which ingesting the corrected workbook undoes (producers/spreadsheet.py).
    return escape_formula("" if value is None else str(value))


def refusals_workbook(category: str, refusals: Iterable[Mapping[str, Any]]) -> bytes:
    """One sheet: reason columns, then the template's columns with the values as sent."""
    headers = template_headers(category)
    book = Workbook()
    sheet = book.active
    sheet.title = category_spec(category).chinese[:31]
    sheet.append([*REJECTION_COLUMNS, *headers])
    for cell in sheet[1][: len(REJECTION_COLUMNS)]:
        cell.font = Font(bold=True, color="9C0006")
        cell.fill = PatternFill("solid", fgColor="FFC7CE")
    for refusal in refusals:
        fields = json.loads(refusal.get("fields_json") or "{}")
        sheet.append([
            _cell(refusal.get("record_ref_label", refusal.get("record_ref"))),
            _cell(refusal.get("field_label", refusal.get("field"))),
            _cell(refusal.get("value")),
            _cell(refusal.get("reason_text", refusal.get("reason"))),
            *(_cell(fields.get(h)) for h in headers),
        ])  # fmt: skip
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["D"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
