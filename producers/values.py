"""Reading cell values the way agencies actually write them: dates, amounts, name lists, text.

Spreadsheets from dozens of departments disagree on every convention: 2017/3/7 beside
2017年3月7日, amounts in 万元 with full-width digits, names separated by 、 or ；. Each parser
accepts the forms seen in practice and raises `FieldValueError` naming the form it expected
otherwise; none guesses. Blank cells (and the placeholders agencies type for "nothing") read
as None, so the caller decides whether the field was required.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from openpyxl.utils.datetime import from_excel

from producers.errors import FieldValueError
from schemas.identifiers import CodeKind, InvalidCode, identify_code
from schemas.personal_ids import mask_id_number

DATE_EXPECTED = "a date such as 2017-03-07, 2017/3/7, 2017.3.7, 2017年3月7日 or 20170307"
MONEY_EXPECTED = "an amount in yuan such as 12,500.00, 12500元 or 1.25万元"
TEXT_EXPECTED = "text"
NAMES_EXPECTED = "names separated by 、 ， , ; ； or |"

# Long enough for any 许可内容 or 详情 seen in the templates; a longer cell is almost always
# a spreadsheet accident (a pasted document), which the department should look at.
MAX_TEXT_CHARS = 4000
# No fine or confiscation comes near 10^15 yuan; larger numbers are typos or serials, and
# the Avro decimal downstream has finite precision.
MAX_AMOUNT = Decimal(10) ** 15
CENT = Decimal("0.01")
TEN_THOUSAND = Decimal(10_000)
# Excel serial dates: 1900-01-01 is 1 and 2099-12-31 is 73050. Outside that range a number
# in a date column is not a date.
_EXCEL_SERIAL_RANGE = (1, 73050)
_YEAR_RANGE = (1900, 2099)

# What agencies type into a cell to mean "nothing here".
BLANK_PLACEHOLDERS = frozenset({"", "-", "--", "—", "——", "/", "无", "空", "null", "none", "n/a"})
_LONGEST_PLACEHOLDER = max(map(len, BLANK_PLACEHOLDERS))
# 有效期至 / 限制期限至 written as "no end" (长期有效 is the usual wording on licences).
OPEN_ENDED_WORDS = frozenset({"长期", "长期有效", "永久", "永久有效", "无期限", "无固定期限"})

# Zero-width characters and the BOM survive str.strip(); Excel exports are full of them.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_NAME_SEPARATORS = re.compile(r"[、，,;；|｜\r\n]+")
_DATE_SEPARATED = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_DATE_CHINESE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_EXCEL_SERIAL_TEXT = re.compile(r"\d{5}(?:\.\d+)?")
# A minus sign is matched so that a negative amount is refused as negative, not as garbage.
_AMOUNT = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_CURRENCY_PREFIX = re.compile(r"^(?:¥|￥|rmb|cny|人民币)\s*", re.IGNORECASE)


def clean_text(value: str) -> str:
    """Trim ASCII and full-width spaces, NBSP and zero-width characters from both ends."""
    return value.strip().strip(_INVISIBLE).strip()


def is_blank(value: Any) -> bool:
    """Whether a cell holds nothing (None, spaces, or a placeholder like 无 or -)."""
    if value is None:
        return True
    if isinstance(value, str):
        text = clean_text(value)
        # Placeholders are short; skipping NFKC for real values keeps the hot path cheap.
        if len(text) > _LONGEST_PLACEHOLDER:
            return False
        return unicodedata.normalize("NFKC", text).lower() in BLANK_PLACEHOLDERS
    return False


def parse_text(value: Any, field: str) -> str | None:
    """A trimmed text cell; numbers as written (Excel's 12.0 read as 12); None when blank."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise FieldValueError(field, value, TEXT_EXPECTED)
    if isinstance(value, str):
        text = clean_text(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FieldValueError(field, value, TEXT_EXPECTED)
        # Excel stores every number as a float: a document number typed as 2017 reads 2017.0.
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        raise FieldValueError(field, value, TEXT_EXPECTED)
    if len(text) > MAX_TEXT_CHARS:
        raise FieldValueError(field, value, f"text of at most {MAX_TEXT_CHARS} characters")
    for ch in text:
        # Control characters and lone surrogates cannot travel in Avro strings or be shown
        # on the public page; tabs and line breaks inside a cell are ordinary.
        if ch not in "\t\r\n" and unicodedata.category(ch) in ("Cc", "Cs"):
            raise FieldValueError(
                field, value, f"text without control characters (found U+{ord(ch):04X})"
            )
    return text or None


def parse_date(value: Any, field: str, *, open_ended: bool = False) -> dt.date | None:
    """A calendar date from any form agencies use, Excel serials and date cells included.

    With `open_ended`, words like 长期有效 read as None (no end date); otherwise they fail."""
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return _in_range(value.date(), field, value)
    if isinstance(value, dt.date):
        return _in_range(value, field, value)
    if isinstance(value, bool):
        raise FieldValueError(field, value, DATE_EXPECTED)
    if isinstance(value, int | float | Decimal):
        return _from_excel_serial(value, field)
    if not isinstance(value, str):
        raise FieldValueError(field, value, DATE_EXPECTED)
    text = unicodedata.normalize("NFKC", clean_text(value))
    if text in OPEN_ENDED_WORDS:
        if open_ended:
            return None
        raise FieldValueError(field, value, f"{DATE_EXPECTED} (this field has no open end)")
    for pattern, groups in ((_DATE_SEPARATED, (1, 3, 4)), (_DATE_CHINESE, (1, 2, 3))):
        match = pattern.fullmatch(text)
        if match:
            return _make_date(*(int(match.group(g)) for g in groups), field=field, value=value)
    match = _DATE_COMPACT.fullmatch(text)
    if match:
        return _make_date(*(int(g) for g in match.groups()), field=field, value=value)
    if _EXCEL_SERIAL_TEXT.fullmatch(text):
        # A date column exported to CSV after Excel lost its format: 42801 is 2017-03-07.
        return _from_excel_serial(Decimal(text), field)
    raise FieldValueError(field, value, DATE_EXPECTED)


def _make_date(year: int, month: int, day: int, *, field: str, value: Any) -> dt.date:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        raise FieldValueError(
            field, value, f"{DATE_EXPECTED} (no such day: {year}-{month:02d}-{day:02d})"
        ) from None
    return _in_range(date, field, value)


def _in_range(date: dt.date, field: str, value: Any) -> dt.date:
    if not _YEAR_RANGE[0] <= date.year <= _YEAR_RANGE[1]:
        raise FieldValueError(field, value, f"a date between {_YEAR_RANGE[0]} and {_YEAR_RANGE[1]}")
    return date


def _from_excel_serial(value: int | float | Decimal, field: str) -> dt.date:
    low, high = _EXCEL_SERIAL_RANGE
    if not _finite(value) or not low <= value <= high:
        raise FieldValueError(
            field, value, f"{DATE_EXPECTED}, or an Excel date serial between {low} and {high}"
        )
    # openpyxl knows Excel's 1900 leap-year bug (serial 60 is the non-existent 1900-02-29).
    return from_excel(float(value)).date()


def _finite(value: int | float | Decimal) -> bool:
    # math.isfinite() raises on a signalling Decimal NaN instead of answering.
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int) or math.isfinite(value)


def parse_money(value: Any, field: str, *, scale: Decimal = Decimal(1)) -> Decimal | None:
    """An amount in yuan, to the cent. `scale` is the column's unit (10000 when the header
    says 万元); a unit written in the cell itself (元 / 万元) takes precedence."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise FieldValueError(field, value, MONEY_EXPECTED)
    if isinstance(value, int):
        amount = Decimal(value) * scale
    elif isinstance(value, float | Decimal):
        if not _finite(value):
            raise FieldValueError(field, value, MONEY_EXPECTED)
        # repr() of a float is the shortest decimal that round-trips: 0.1 stays 0.1.
        amount = (Decimal(repr(value)) if isinstance(value, float) else value) * scale
    elif isinstance(value, str):
        amount = _amount_from_text(value, field, scale)
    else:
        raise FieldValueError(field, value, MONEY_EXPECTED)
    if amount < 0:
        raise FieldValueError(field, value, f"{MONEY_EXPECTED} (not negative)")
    if amount >= MAX_AMOUNT:
        raise FieldValueError(field, value, f"{MONEY_EXPECTED} (below {MAX_AMOUNT:,} yuan)")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _amount_from_text(value: str, field: str, scale: Decimal) -> Decimal:
    text = unicodedata.normalize("NFKC", clean_text(value))
    text = _CURRENCY_PREFIX.sub("", text).replace(" ", "")
    if text.endswith("万元") or text.endswith("万"):
        text, scale = text.removesuffix("元").removesuffix("万"), TEN_THOUSAND
    elif text.endswith("元"):
        text, scale = text.removesuffix("元"), Decimal(1)
    if not _AMOUNT.fullmatch(text):
        raise FieldValueError(field, value, MONEY_EXPECTED)
    try:
        return Decimal(text.replace(",", "")) * scale
    except InvalidOperation:  # pragma: no cover — the pattern admits only plain decimals
        raise FieldValueError(field, value, MONEY_EXPECTED) from None


def parse_names(value: Any, field: str) -> list[str] | None:
    """A list of names (departments, persons) from one cell, or a JSON list; None when empty."""
    if is_blank(value):
        return None
    if isinstance(value, list | tuple):
        parts = [parse_text(item, field) for item in value]
    elif isinstance(value, str):
        text = parse_text(value, field) or ""
        parts = [clean_text(part) for part in _NAME_SEPARATORS.split(text)]
    else:
        raise FieldValueError(field, value, NAMES_EXPECTED)
    names = list(dict.fromkeys(part for part in parts if part and not is_blank(part)))
    return names or None


def parse_code(value: Any, field: str) -> tuple[CodeKind, str] | None:
    """A subject code (USCC, registration number or organisation code): its kind, normalised.

    The reason from the check (length, character, check digit) is kept in the error."""
    text = parse_text(value, field)
    if text is None:
        return None
    try:
        return identify_code(text)
    except InvalidCode as exc:
        # A person's ID number typed into the subject column is personal data: the error
        # (logged, published to credit.rejected) shows it masked, as the public view would.
        shown = mask_id_number(text) if exc.personal_data else value
        raise FieldValueError(field, shown, _code_expectation(exc)) from exc


_CODE_NAMES = {
    "uscc": "USCC (统一社会信用代码)",
    "registration_number": "registration number (注册号)",
    "organisation_code": "organisation code (组织机构代码)",
}


def _code_expectation(exc: InvalidCode) -> str:
    # The length decided which kind was meant; when it fits none, list what would fit.
    name = _CODE_NAMES.get(exc.kind)
    if name is None:
        return (
            "a USCC (18 characters), a registration number (15 digits) or an organisation "
            f"code (9 characters): {exc.reason}"
        )
    return f"a valid {name}: {exc.reason}"
