"""Header mapping: template column names (Chinese or English snake_case) to field names.

A department's spreadsheet (or JSON record) names its columns as the national templates do
(schemas/categories.py), give or take full-width brackets, stray spaces, a leading * marking
required columns and a unit such as （万元）. The subject columns are shared by every
category and map onto pseudo-fields (`subject_code`, `subject_name` …) that
`producers.events` turns into the record's `SubjectAsSent`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from producers.errors import CategoryAmbiguous, CategoryNotRecognised, HeaderError
from schemas.categories import (
    CATEGORIES,
    SERIAL_HEADER,
    SUBJECT_CODE_HEADER,
    SUBJECT_NAME_HEADER,
    Category,
    category_spec,
)

# Pseudo-fields: columns that describe the subject or the row rather than the record.
SUBJECT_CODE = "subject_code"  # 统一社会信用代码（企业注册号）: any of the three codes
SUBJECT_USCC = "subject_uscc"
SUBJECT_REGISTRATION_NUMBER = "subject_registration_number"
SUBJECT_ORGANISATION_CODE = "subject_organisation_code"
SUBJECT_NAME = "subject_name"
SERIAL = "serial"  # 序号: the row's number in the department's own list
OPERATION = "operation"  # 操作类型: 新增/变更 (upsert) or 撤销 (withdraw)

SUBJECT_CODE_FIELDS = (
    SUBJECT_CODE,
    SUBJECT_USCC,
    SUBJECT_REGISTRATION_NUMBER,
    SUBJECT_ORGANISATION_CODE,
)
# In the registration category the codes and the name are the record's own fields.
REGISTRATION_CODE_FIELDS = ("uscc", "registration_number", "organisation_code")

# Columns `write_rejections_csv` adds in front of the original ones, so that a corrected
# rejections file can be ingested again as it is.
REJECTION_COLUMNS = ("行号", "错误字段", "错误值", "错误原因")

_PSEUDO_CHINESE: dict[str, tuple[str, ...]] = {
    SUBJECT_CODE: (
        SUBJECT_CODE_HEADER,
        "统一社会信用代码/注册号",
        "统一社会信用代码或注册号",
        "统一社会信用代码（注册号）",
        "行政相对人代码",
    ),
    SUBJECT_USCC: ("统一社会信用代码",),
    SUBJECT_REGISTRATION_NUMBER: ("注册号", "工商注册号", "企业注册号"),
    SUBJECT_ORGANISATION_CODE: ("组织机构代码",),
    SUBJECT_NAME: (SUBJECT_NAME_HEADER, "行政相对人名称", "单位名称", "企业（单位）名称"),
    SERIAL: (SERIAL_HEADER,),
    OPERATION: ("操作类型", "操作"),
}
_PSEUDO_ENGLISH: dict[str, tuple[str, ...]] = {
    SUBJECT_CODE: ("subject_code",),
    SUBJECT_USCC: ("subject_uscc", "uscc"),
    SUBJECT_REGISTRATION_NUMBER: ("subject_registration_number", "registration_number"),
    SUBJECT_ORGANISATION_CODE: (
        "subject_organisation_code",
        "organisation_code",
        "organization_code",
    ),
    SUBJECT_NAME: ("subject_name", "enterprise_name", "name"),
    SERIAL: ("serial", "serial_number"),
    OPERATION: ("operation",),
}
_IGNORED = "\0ignored"

_UNIT = re.compile(r"\((?:单位:?)?(万元|元)\)$")
_REQUIRED_MARK = "*"


def _chinese_key(header: str) -> str:
    # NFKC folds full-width brackets, colons and spaces into ASCII, so （） and () agree.
    text = unicodedata.normalize("NFKC", header)
    return re.sub(r"\s+", "", text).strip(_REQUIRED_MARK)


def _english_key(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).strip().strip(_REQUIRED_MARK).strip()
    return re.sub(r"[\s\-]+", "_", text).lower()


def header_unit(header: str) -> Decimal:
    """The unit a header declares for its amounts: 10000 for （万元）, else 1 (yuan)."""
    match = _UNIT.search(_chinese_key(header))
    return Decimal(10_000) if match and match.group(1) == "万元" else Decimal(1)


def _without_unit(key: str) -> str:
    return _UNIT.sub("", key)


@cache
def _lookup(category: Category) -> dict[str, str]:
    spec = category_spec(category)
    table: dict[str, str] = {}
    pseudo_chinese = dict(_PSEUDO_CHINESE)
    pseudo_english = dict(_PSEUDO_ENGLISH)
    if category == "registration":
        # The registration record *is* about the subject: its code and name columns are
        # fields of the record (name: 企业名称 is the usual heading for 名称).
        for pseudo in (SUBJECT_USCC, SUBJECT_REGISTRATION_NUMBER, SUBJECT_ORGANISATION_CODE):
            del pseudo_chinese[pseudo], pseudo_english[pseudo]
        pseudo_chinese.pop(SUBJECT_NAME)
        pseudo_english.pop(SUBJECT_NAME)
        table[_chinese_key(SUBJECT_NAME_HEADER)] = "name"
        table["enterprise_name"] = "name"
    for pseudo, names in pseudo_chinese.items():
        table.update({_chinese_key(name): pseudo for name in names})
    for pseudo, names in pseudo_english.items():
        table.update(dict.fromkeys(names, pseudo))
    for column in REJECTION_COLUMNS:
        table[_chinese_key(column)] = _IGNORED
    # The category's own names come last, so they win over any alias.
    for field in spec.fields:
        table[_chinese_key(field.chinese)] = field.name
        table[field.name] = field.name
    return table


def field_for_header(header: str, category: Category) -> str | None:
    """The field a header names in this category, or None when it names none."""
    table = _lookup(category)
    key = _without_unit(_chinese_key(header))
    found = table.get(key) or table.get(_english_key(header))
    return None if found == _IGNORED else found


def _is_ignored(header: str, category: Category) -> bool:
    return _lookup(category).get(_chinese_key(header)) == _IGNORED


@dataclass(frozen=True, slots=True)
class HeaderMap:
    """How one header row maps onto a category's fields."""

    category: Category
    fields: dict[str, str]  # header → field name
    scales: dict[str, Decimal]  # field name → unit of its amounts (money fields only)
    unknown: tuple[str, ...]  # headers that name no field of this category
    missing: tuple[str, ...]  # required columns absent, by their Chinese template name
    duplicated: tuple[str, ...]  # fields named by more than one header

    @property
    def matched(self) -> int:
        own = category_spec(self.category).field_names
        return sum(1 for field in self.fields.values() if field in own)

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row's values by field name; unmapped columns are left out."""
        return {field: row.get(header) for header, field in self.fields.items()}


def _match(headers: Sequence[Any], category: Category) -> HeaderMap:
    spec = category_spec(category)
    fields: dict[str, str] = {}
    unknown: list[str] = []
    seen: dict[str, str] = {}
    duplicated: list[str] = []
    for raw in headers:
        header = "" if raw is None else str(raw)
        if not header.strip() or _is_ignored(header, category):
            continue
        field = field_for_header(header, category)
        if field is None:
            unknown.append(header)
            continue
        if field in seen:
            duplicated.append(f"{field} ({seen[field]!r} and {header!r})")
            continue
        seen[field] = header
        fields[header] = field
    present = set(fields.values())
    required = [f for f in spec.fields if f.required or f.name in spec.key_fields]
    missing = [f.chinese for f in required if f.name not in present]
    code_fields = REGISTRATION_CODE_FIELDS if category == "registration" else SUBJECT_CODE_FIELDS
    if category != "registration" and not present.intersection(code_fields):
        # The subject code is mandatory in every category (seed 002).
        missing.insert(0, SUBJECT_CODE_HEADER)
    scales = {
        field: header_unit(header)
        for header, field in fields.items()
        if field in spec.field_names and spec.field(field).kind == "money"
    }
    return HeaderMap(category, fields, scales, tuple(unknown), tuple(missing), tuple(duplicated))


def map_headers(
    headers: Sequence[Any], category: Category, *, allow_unknown: bool = False
) -> HeaderMap:
    """Map a header row onto `category`, or raise a HeaderError naming every problem.

    Unknown columns are an error unless `allow_unknown`: a column the department filled in
    and we silently dropped would be data lost without anyone knowing."""
    spec = category_spec(category)
    result = _match(headers, category)
    problems = []
    if result.missing:
        problems.append(f"missing required columns: {', '.join(result.missing)}")
    if result.duplicated:
        problems.append(f"columns naming the same field: {'; '.join(result.duplicated)}")
    if result.unknown and not allow_unknown:
        known = "、".join(f.chinese for f in spec.fields)
        problems.append(
            f"unknown columns: {', '.join(result.unknown)} (the {category} template has "
            f"{SUBJECT_CODE_HEADER}、{SUBJECT_NAME_HEADER}、{known})"
        )
    if problems:
        raise HeaderError(f"headers do not fit category {category!r}: " + "; ".join(problems))
    return result


def infer_category(headers: Sequence[Any]) -> Category:
    """The category whose template the headers fit: all required columns present, none
    unknown. Raises naming the closest category and what is missing or unknown."""
    matches = [_match(headers, category) for category in CATEGORIES]
    fitting = [m for m in matches if not (m.missing or m.unknown or m.duplicated)]
    if fitting:
        best = max(m.matched for m in fitting)
        top = [m.category for m in fitting if m.matched == best]
        if len(top) > 1:
            raise CategoryAmbiguous(top)
        return top[0]
    closest = max(matches, key=lambda m: m.matched - len(m.missing) - len(m.unknown))
    raise CategoryNotRecognised(
        closest.category,
        closest.missing,
        closest.unknown,
        ["" if h is None else str(h) for h in headers],
    )
