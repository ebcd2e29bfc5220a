"""From one row of field values to an `IntakeEvent`, or a `RecordRejection` saying why not.

Every adapter (spreadsheet, HTTP, change feed) ends here, so validation is the same whatever
the way in: required fields present, each value of its field's kind, the subject code
checked (USCC, registration number or organisation code), the natural key and decision date
taken from the category spec. The event id is a uuid5 of the content, so re-sending a file
publishes events the pipeline recognises as the ones it already has.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from producers.errors import FieldValueError
from producers.personal import ID_IN_TEXT, clear_id_number, fields_with_id_numbers, seal_id_number
from producers.templates import (
    OPERATION,
    REGISTRATION_CODE_FIELDS,
    SERIAL,
    SUBJECT_CODE,
    SUBJECT_CODE_FIELDS,
    SUBJECT_NAME,
)
from producers.values import (
    parse_code,
    parse_date,
    parse_money,
    parse_names,
    parse_text,
)
from schemas.categories import SUBJECT_CODE_HEADER, Category, FieldSpec, Operation, category_spec
from schemas.personal_ids import mask_id_number, mask_resident_ids
from schemas.pii_crypto import PiiKeyError, PiiKeyring
from schemas.records import Department, IntakeEvent, SubjectAsSent

# Fixed forever: changing it would give every record ever sent a new event id.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:creditsync:intake-event")

ReasonCode = Literal[
    "required",  # a required field is empty
    "invalid_value",  # a value is not of its field's kind
    "invalid_code",  # the subject code fails its check
    "conflicting_codes",  # two codes of one row disagree
    "unknown_field",  # a field the category does not have
    "malformed_row",  # a row that cannot be read (encoding, extra cells)
    "not_owner",  # the item it changes belongs to another department (streams/rules/ownership.py)
]

_OPERATIONS: dict[str, Operation] = {
    **dict.fromkeys(("upsert", "新增", "新建", "更新", "变更", "修改", "修正"), "upsert"),
    **dict.fromkeys(("withdraw", "撤销", "撤回", "删除"), "withdraw"),
}
_PSEUDO_CHINESE = {
    SERIAL: "序号",
    OPERATION: "操作类型",
    SUBJECT_NAME: "企业名称",
    **dict.fromkeys(SUBJECT_CODE_FIELDS, SUBJECT_CODE_HEADER),
}
# Personal data is shown masked even in rejections, which end up in logs and on
# credit.rejected (DOMAIN.md "Privacy").
_PERSONAL_FIELDS = frozenset({"id_document_number"})


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with one field of a record."""

    field: str  # English field name
    field_chinese: str  # the template's Chinese name
    value: Any
    reason: str
    code: ReasonCode = "invalid_value"

    def __str__(self) -> str:
        return mask_resident_ids(
            f"{self.field_chinese} ({self.field}) = {_shown(self.value)}: {self.reason}"
        )


@dataclass(frozen=True, slots=True)
class RecordRejection:
    """A record that was not published: which one, which field, what was expected.

    `field`, `value` and `reason` are the first problem; `problems` lists them all, so a
    department can correct a row in one go. `row` keeps the original cells for the
    rejections file, which can be corrected and ingested again."""

    record_ref: str  # "row 12 (序号 11)", "record 3"
    field: str
    value: Any
    reason: str
    field_chinese: str = ""
    code: ReasonCode = "invalid_value"
    problems: tuple[FieldProblem, ...] = ()
    row: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    row_number: int | None = None

    @classmethod
    def of(
        cls,
        record_ref: str,
        problems: list[FieldProblem],
        row: Mapping[str, Any] | None = None,
        row_number: int | None = None,
    ) -> RecordRejection:
        first = problems[0]
        return cls(
            record_ref,
            first.field,
            first.value,
            first.reason,
            first.field_chinese,
            first.code,
            tuple(problems),
            row,
            row_number,
        )

    @property
    def message(self) -> str:
        if self.problems:
            problems = "; ".join(str(p) for p in self.problems)
        else:
            problems = f"{self.field_chinese} ({self.field}) = {_shown(self.value)}: {self.reason}"
        return mask_resident_ids(f"{self.record_ref}: {problems}")

    def __str__(self) -> str:
        return self.message


def _shown(value: Any, limit: int = 60) -> str:
    # Masked before repr() (which writes zero-width characters as escapes) and before the
    # cut (which could leave part of a number that is no longer recognised).
    text = repr(mask_resident_ids(value) if isinstance(value, str) else value)
    text = mask_resident_ids(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def spreadsheet_sequence(emitted_at: dt.datetime, row_number: int) -> int:
    """A source sequence for row `row_number` of a file sent at `emitted_at`: a later
    re-send of a corrected file orders after the earlier one, and rows keep their order."""
    # 2^21 rows per file is more than an XLSX sheet holds (1,048,576); the product stays
    # well inside Avro's signed 64-bit long until the year 3000.
    return int(emitted_at.timestamp() * 1000) << 21 | row_number


def build_intake_event(
    category: Category,
    row_fields: Mapping[str, Any],
    department: Department,
    adapter: str,
    source_sequence: int,
    emitted_at: dt.datetime,
    *,
    record_ref: str | None = None,
    scales: Mapping[str, Decimal] | None = None,
    row: Mapping[str, Any] | None = None,
    row_number: int | None = None,
    keyring: PiiKeyring | None = None,
) -> IntakeEvent | RecordRejection:
    """Validate one record's fields (by English field name, see producers.templates) and
    build its intake event, or the rejection listing everything wrong with it.

    The ID number leaves here encrypted (producers.personal, with `keyring` or the
    process's); a full resident ID number in any other field refuses the record."""
    spec = category_spec(category)
    ref = record_ref or f"record {source_sequence}"
    if not isinstance(row_fields, Mapping):
        problem = FieldProblem(
            "(record)", "（记录）", row_fields, "expected an object of fields", "malformed_row"
        )
        return RecordRejection.of(ref, [problem], row, row_number)
    problems: list[FieldProblem] = []
    payload: dict[str, Any] = {}
    for spec_field in spec.fields:
        raw = row_fields.get(spec_field.name)
        if spec_field.name in _PERSONAL_FIELDS:
            try:
                raw = clear_id_number(raw, keyring)
            except PiiKeyError as exc:
                # A value shaped as our envelope that no key opens: forged or corrupt. Refused
                # here, so it never reaches the stage that would have to open it.
                problems.append(
                    FieldProblem(
                        spec_field.name,
                        spec_field.chinese,
                        "enc:v1:…",
                        f"加密的证件号码无法解密（{exc}）；请报送证件号码原文",
                    )
                )
                continue
        value, problem = _parse_field(spec_field, raw, (scales or {}).get(spec_field.name))
        needed = spec_field.required or spec_field.name in spec.key_fields
        if problem is None and value is None and needed:
            problem = FieldProblem(
                spec_field.name, spec_field.chinese, raw, "required, but empty", "required"
            )
        if problem is not None:
            problems.append(problem)
        payload[spec_field.name] = value
    subject = _subject(category, row_fields, payload, problems)
    operation = _operation(row_fields.get(OPERATION), problems)
    problems += _unknown_fields(row_fields, spec.field_names)
    problems += [
        FieldProblem(name, _PSEUDO_CHINESE.get(name) or spec.field(name).chinese,
                     payload.get(name, subject["name"]), ID_IN_TEXT)
        for name in fields_with_id_numbers(payload, subject["name"])
    ]  # fmt: skip
    serial = _serial(row_fields.get(SERIAL))
    if serial and record_ref:
        ref = f"{record_ref} (序号 {serial})"
    if problems:
        return RecordRejection.of(ref, problems, row, row_number)
    record_key = "|".join(_key_text(payload[name]) for name in spec.key_fields)
    occurred = payload.get(spec.decision_date_field) if spec.decision_date_field else None
    # The id from the clear number (a re-send gives the same id), then the number sealed.
    content_id = event_id(department["code"], category, record_key, operation, subject, payload)
    seal_id_number(payload, keyring)
    return IntakeEvent(
        event_id=content_id,
        category=category,
        operation=operation,
        department=Department(code=department["code"], name=department["name"]),
        record_key=record_key,
        subject=subject,
        occurred_at=occurred,
        emitted_at=emitted_at,
        source_sequence=source_sequence,
        adapter=adapter,
        payload=payload,
        # Issue #17: the adapter sets them from its request, file or department.
        backfill=False,
        networked=True,
    )


def _parse_field(
    spec: FieldSpec, raw: Any, scale: Decimal | None
) -> tuple[Any, FieldProblem | None]:
    try:
        if spec.kind == "date":
            # Only an optional date may be open-ended (有效期至 长期有效).
            return parse_date(raw, spec.name, open_ended=not spec.required), None
        if spec.kind == "money":
            return parse_money(raw, spec.name, scale=scale or Decimal(1)), None
        if spec.kind == "names":
            return parse_names(raw, spec.name), None
        if spec.kind == "code":
            parsed = parse_code(raw, spec.name)
            if parsed is None:
                return None, None
            kind, code = parsed
            if kind != spec.name:
                # In a registration record each code column holds exactly its own kind:
                # this is where the old→new code mapping comes from (DOMAIN.md).
                return None, FieldProblem(
                    spec.name, spec.chinese, raw, f"expected a {spec.name}, this is a {kind}"
                )
            return code, None
        return parse_text(raw, spec.name), None
    except FieldValueError as exc:
        shown = mask_id_number(str(raw)) if spec.name in _PERSONAL_FIELDS else exc.value
        return None, FieldProblem(spec.name, spec.chinese, shown, f"expected {exc.expected}")


def _subject(
    category: Category,
    row_fields: Mapping[str, Any],
    payload: dict[str, Any],
    problems: list[FieldProblem],
) -> SubjectAsSent:
    subject = SubjectAsSent(uscc=None, registration_number=None, organisation_code=None, name=None)
    if category == "registration":
        for kind in REGISTRATION_CODE_FIELDS:
            subject[kind] = payload.get(kind)  # type: ignore[literal-required]
        subject["name"] = payload.get("name")
    for column in SUBJECT_CODE_FIELDS:
        raw = row_fields.get(column)
        try:
            parsed = parse_code(raw, column)
        except FieldValueError as exc:
            problems.append(
                FieldProblem(
                    column,
                    SUBJECT_CODE_HEADER,
                    exc.value,
                    f"expected {exc.expected}",
                    "invalid_code",
                )
            )
            continue
        if parsed is None:
            continue
        kind, code = parsed
        if subject[kind] not in (None, code):
            problems.append(
                FieldProblem(
                    column,
                    SUBJECT_CODE_HEADER,
                    raw,
                    f"{kind} {code} disagrees with {subject[kind]} in the same row",
                    "conflicting_codes",
                )
            )
            continue
        subject[kind] = code
    if category != "registration":
        try:
            subject["name"] = parse_text(row_fields.get(SUBJECT_NAME), SUBJECT_NAME)
        except FieldValueError as exc:
            problems.append(
                FieldProblem(SUBJECT_NAME, "企业名称", exc.value, f"expected {exc.expected}")
            )
    uscc, org = subject["uscc"], subject["organisation_code"]
    if uscc and org and uscc[8:17] != org:
        # GB 32100: characters 9-17 of a USCC are the organisation code.
        problems.append(
            FieldProblem(
                "organisation_code" if category == "registration" else SUBJECT_CODE,
                "组织机构代码",
                org,
                f"organisation code {org} is not characters 9-17 of USCC {uscc}",
                "conflicting_codes",
            )
        )
    # (A registration record's own USCC is its key, already required above.)
    if (
        category != "registration"
        and not any(subject[kind] for kind in REGISTRATION_CODE_FIELDS)
        and not any(
            p.code == "invalid_code" or p.field in REGISTRATION_CODE_FIELDS for p in problems
        )
    ):
        problems.append(
            FieldProblem(
                SUBJECT_CODE,
                SUBJECT_CODE_HEADER,
                None,
                "required: a USCC, a registration number or an organisation code",
                "required",
            )
        )
    return subject


def _operation(raw: Any, problems: list[FieldProblem]) -> Operation:
    try:
        text = parse_text(raw, OPERATION)
    except FieldValueError as exc:
        text = exc.value
    if text is None:
        return "upsert"
    operation = _OPERATIONS.get(str(text).strip().lower())
    if operation is None:
        problems.append(
            FieldProblem(
                OPERATION, "操作类型", raw, "expected 新增/变更 (upsert) or 撤销 (withdraw)"
            )
        )
        return "upsert"
    return operation


def _unknown_fields(row_fields: Mapping[str, Any], own: tuple[str, ...]) -> list[FieldProblem]:
    known = {*own, *_PSEUDO_CHINESE}
    return [
        FieldProblem(str(name), str(name), value, "not a field of this category", "unknown_field")
        for name, value in row_fields.items()
        if name not in known
    ]


def _serial(raw: Any) -> str | None:
    try:
        return parse_text(raw, SERIAL)
    except FieldValueError:
        return None  # 序号 only decorates the record reference; a bad one is no reason to reject


def _key_text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "、".join(value)
    return str(value)


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    raise TypeError(f"cannot put {type(value).__name__} into an event id")


def event_id(
    department_code: str,
    category: str,
    record_key: str,
    operation: str,
    subject: Mapping[str, Any],
    payload: Mapping[str, Any],
) -> str:
    """uuid5 over the department, category, record key and canonical content: the same
    content always gives the same id, changed content a new one."""
    content = json.dumps(
        [department_code, category, record_key, operation, subject, payload],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_canonical,
    )
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, content))


def control_totals_event(
    department: Department,
    category: Category,
    source_name: str,
    declared: int | None,
    published: int,
    already_published: int,
    rejected_by_reason: Mapping[str, int],
    *,
    emitted_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The control totals of one submission (file or request) for credit.control-totals:
    what the department declared, what was published, already there, or rejected and why.

    `balanced` says whether every declared record is accounted for — the check an official
    makes before signing off a batch (「该改的要改，该补的要补」)."""
    rejected = sum(rejected_by_reason.values())
    received = published + already_published + rejected
    return {
        "department": Department(code=department["code"], name=department["name"]),
        "category": category,
        "source_name": source_name,
        "declared": declared,
        "received": received,
        "published": published,
        "already_published": already_published,
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(rejected_by_reason.items())),
        "balanced": declared is None or declared == received,
        "emitted_at": (emitted_at or dt.datetime.now(dt.UTC)).isoformat(),
    }
