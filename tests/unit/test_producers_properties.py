"""Property tests: whatever a department sends, every row ends as an event or a rejection.

Malformed rows, wrong encodings, huge cells and wrong types are thrown at
`build_intake_event` and `parse_spreadsheet`; no exception may escape for a row and no row
may be lost (rows in == events + rejections). A file-level problem (headers unreadable in
the encoding it was sent in) is allowed only as a HeaderError/SpreadsheetError before any
row is produced.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from producers.errors import HeaderError, SpreadsheetError
from producers.events import RecordRejection, build_intake_event
from producers.spreadsheet import parse_spreadsheet
from producers.templates import SUBJECT_CODE_FIELDS
from schemas.categories import CATEGORIES, CATEGORY_SPECS, SUBJECT_CODE_HEADER
from schemas.identifiers import make_registration_number, make_uscc
from schemas.records import Department

DEPT = Department(code="scjg-640000", name="宁夏回族自治区市场监督管理厅")
AT = dt.datetime(2018, 3, 9, tzinfo=dt.UTC)
USCC = make_uscc("9", "1", "640422", "43635181")
REG = make_registration_number("640422", "66865727")
PENALTY_HEADERS = [
    "序号",
    SUBJECT_CODE_HEADER,
    "企业名称",
    *(f.chinese for f in CATEGORY_SPECS["penalty"].fields),
]
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

plausible = st.sampled_from(
    [USCC, REG, "43635181-3", "2018-03-01", "2018年3月1日", "42801", "1.5万元", "12,000元",
     "罚款", "长期有效", "无", "-", "", " ", "　", "撤销", "新增", "宁市监罚〔2018〕10号"]
)  # fmt: skip
huge = st.integers(4_000, 150_000).map(lambda n: "长" * n)
cell_text = st.one_of(plausible, st.text(max_size=40), huge)
any_value = st.one_of(
    st.none(),
    cell_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.lists(cell_text, max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=8),
)


def assert_event_or_rejection(result: Any) -> None:
    if isinstance(result, RecordRejection):
        assert result.reason and result.problems and result.field
        assert all(p.reason for p in result.problems)
        assert str(result).startswith(result.record_ref)
    else:
        assert set(result) >= {"event_id", "category", "record_key", "subject", "payload"}
        assert result["record_key"]
        assert any(result["subject"][k] for k in ("uscc", "registration_number",
                                                   "organisation_code"))  # fmt: skip


@st.composite
def records(draw: st.DrawFn) -> tuple[str, dict[Any, Any]]:
    category = draw(st.sampled_from(CATEGORIES))
    names = [*CATEGORY_SPECS[category].field_names, *SUBJECT_CODE_FIELDS, "subject_name",
             "serial", "operation"]  # fmt: skip
    keys = st.one_of(st.sampled_from(names), st.text(max_size=8))
    return category, draw(st.dictionaries(keys, any_value, max_size=len(names) + 2))


@PROPERTY_SETTINGS
@given(records())
def test_build_intake_event_never_raises(record: tuple[str, dict[Any, Any]]) -> None:
    category, fields = record
    result = build_intake_event(category, fields, DEPT, "http/1", 1, AT, record_ref="record 1")  # type: ignore[arg-type]
    assert_event_or_rejection(result)


@PROPERTY_SETTINGS
@given(st.sampled_from(CATEGORIES), any_value)
def test_build_intake_event_rejects_non_mappings(category: str, value: Any) -> None:
    if isinstance(value, dict):
        return
    result = build_intake_event(category, value, DEPT, "http/1", 1, AT)  # type: ignore[arg-type]
    assert isinstance(result, RecordRejection) and result.code == "malformed_row"


csv_row = st.lists(cell_text, min_size=0, max_size=len(PENALTY_HEADERS) + 2)


def run(path: Path) -> list[Any] | None:
    """The file's results, or None when it failed as a whole (before any row)."""
    results: list[Any] = []
    try:
        for item in parse_spreadsheet(path, DEPT, emitted_at=AT):
            results.append(item)
    except (HeaderError, SpreadsheetError):
        assert results == [], "a file-level error after rows were produced"
        return None
    return results


@PROPERTY_SETTINGS
@given(
    rows=st.lists(csv_row, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "big5", "latin-1"]),
    corruption=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0x80, 0xFF)), max_size=3),
)
def test_csv_rows_in_equal_events_plus_rejections(
    rows: list[list[str]], encoding: str, corruption: list[tuple[int, int]]
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(PENALTY_HEADERS)
    # The serial cell guarantees no row is blank, so each one must come out.
    writer.writerows([str(i + 1), *row] for i, row in enumerate(rows))
    data = bytearray(buffer.getvalue().encode(encoding, errors="replace"))
    header_end = data.index(b"\n") + 1
    for position, byte in corruption:
        # Stray high bytes in the data lines; the line structure itself stays intact.
        if len(data) > header_end:
            data.insert(header_end + position % (len(data) - header_end), byte)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "penalty.csv"
        path.write_bytes(bytes(data))
        results = run(path)
    if results is None:
        assert encoding in ("big5", "latin-1")  # headers unreadable: the whole file refused
        return
    assert len(results) == len(rows)
    for result in results:
        assert_event_or_rejection(result)


xlsx_cell = st.one_of(
    st.none(),
    plausible,
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 1, 1)),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=Decimal(10) ** 12),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(xlsx_cell, max_size=len(PENALTY_HEADERS) + 1), max_size=6))
def test_xlsx_rows_in_equal_events_plus_rejections(rows: list[list[Any]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(PENALTY_HEADERS)
    for i, row in enumerate(rows):
        sheet.append([i + 1, *row])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "penalty.xlsx"
        workbook.save(path)
        results = run(path)
    assert results is not None
    assert len(results) == len(rows)
    for result in results:
        assert_event_or_rejection(result)
