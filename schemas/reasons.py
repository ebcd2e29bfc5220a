"""Why a record was refused, as a department reads it: Chinese by default, English on request.

Every refusal names the record (file row or request record, and its key), the field (by its
template name) and what was expected. The stages' own messages are kept as the detail; those
already written in Chinese (ownership, state bounds) are used as they are.
"""

# ruff: noqa: E501 — a catalogue of Chinese sentences, one per line
from __future__ import annotations

import re
from typing import Literal

from schemas.categories import (
    SERIAL_HEADER,
    SUBJECT_CODE_HEADER,
    SUBJECT_NAME_HEADER,
    category_spec,
)

Lang = Literal["zh", "en"]
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ROW = re.compile(r"^row (\d+)(?: \(序号 ([^)]*)\))?$")
_RECORD = re.compile(r"^record (\d+)$")
_PSEUDO = {
    "subject_code": SUBJECT_CODE_HEADER,
    "subject_uscc": "统一社会信用代码",
    "subject_registration_number": "注册号",
    "subject_organisation_code": "组织机构代码",
    "subject_name": SUBJECT_NAME_HEADER,
    "serial": SERIAL_HEADER,
    "uscc": "统一社会信用代码",
}

EXPECTED: dict[str, dict[Lang, str]] = {
    "date": {"zh": "日期，如 2017-03-07、2017/3/7 或 2017年3月7日",
             "en": "a date such as 2017-03-07, 2017/3/7 or 2017年3月7日"},
    "money": {"zh": "金额，如 5000、5000.50 或 1.5万元", "en": "an amount such as 5000 or 1.5万元"},
    "code": {"zh": "有效的统一社会信用代码（18 位，末位为校验码）、注册号（15 位）或组织机构代码（9 位）",
             "en": "a valid USCC (18 characters, the last a check character), registration "
                   "number (15 digits) or organisation code (9 characters)"},
    "names": {"zh": "一个或多个名称，以顿号或逗号分隔", "en": "one or more names, separated by 、 or ,"},
    "text": {"zh": "非空的文字", "en": "non-empty text"},
}  # fmt: skip

# {rec}: the record; {field}: its template name; {value}: the value sent; {expected}.
TEMPLATES: dict[str, dict[Lang, str]] = {
    "required": {"zh": "{rec}：必填字段「{field}」为空；应填写{expected}",
                 "en": "{rec}: the required field {field} is empty; expected {expected}"},
    "invalid_value": {"zh": "{rec}：字段「{field}」的值「{value}」不符合要求；应为{expected}",
                      "en": "{rec}: field {field} = {value!r} is not valid; expected {expected}"},
    "invalid_code": {"zh": "{rec}：字段「{field}」的代码「{value}」未通过校验；应为{code}",
                     "en": "{rec}: the code {value!r} in {field} fails its check; expected {code}"},
    "missing_field": {"zh": "{rec}：缺少字段「{field}」；登记信息应含{code}",
                      "en": "{rec}: {field} is missing; a registration must carry {code}"},
    "conflicting_codes": {"zh": "{rec}：同一记录中的几个代码指向不同的企业；应只填写同一企业的代码",
                          "en": "{rec}: the codes of the record name different enterprises; "
                                "expected codes of one enterprise"},
    "unknown_field": {"zh": "{rec}：「{field}」不是该类别国家模板中的列；应使用模板列名",
                      "en": "{rec}: {field} is not a column of the category's template"},
    "malformed_row": {"zh": "{rec}：该行无法读取（编码或列数与表头不符）；应按模板的列填写",
                      "en": "{rec}: the row cannot be read (encoding or cell count); expected "
                            "the template's columns"},
    "unknown_registration_number": {
        "zh": "{rec}：主体代码「{value}」（注册号）尚无对应的企业登记信息，记录已暂存；应由登记机关"
              "报送该企业的登记信息（含统一社会信用代码），暂存记录随即发布",
        "en": "{rec}: no registration is known for registration number {value!r}; the record "
              "is parked until the enterprise's registration (with its USCC) arrives"},
    "unknown_organisation_code": {
        "zh": "{rec}：主体代码「{value}」（组织机构代码）尚无对应的企业登记信息，记录已暂存；应由"
              "登记机关报送该企业的登记信息（含统一社会信用代码），暂存记录随即发布",
        "en": "{rec}: no registration is known for organisation code {value!r}; the record "
              "is parked until the enterprise's registration (with its USCC) arrives"},
    "unpublishable": {"zh": "{rec}：记录不能按原样公示（例如文字字段中含完整的身份证号码）；"
                            "应删除或遮蔽个人信息后重新报送",
                      "en": "{rec}: the record cannot be published as sent (e.g. a full ID "
                            "number in a text field); remove personal data and send it again"},
    "undecodable": {"zh": "{rec}：消息无法读取，不是有效的归集记录；应通过模板文件或 HTTP 接口重新报送",
                    "en": "{rec}: the message is not a readable record; send it again through "
                          "a template file or the HTTP intake"},
    "unapplicable": {"zh": "{rec}：该变更、异议或修复无法应用到所指的记录；应核对所指记录的文号和状态",
                     "en": "{rec}: the change, objection or repair cannot apply to the record "
                           "it names; check that record's number and state"},
    "not_owner": {"zh": "{rec}：该记录所指的信息属于其他部门，本部门无权修改或撤销；应由原报送部门报送",
                  "en": "{rec}: the item belongs to another department; only the department "
                        "that sent it may change or withdraw it"},
    "state_bound_exceeded": {"zh": "{rec}：超出系统状态上限，未处理；应先报送所缺的登记信息或联系运维人员",
                             "en": "{rec}: over a state bound, not applied; send the missing "
                                   "registration first or ask the operators"},
    "output_too_large": {"zh": "{rec}：记录编码后超过消息上限；应缩短长文本字段后重新报送",
                         "en": "{rec}: the record is over the message limit once encoded; "
                               "shorten its long text fields and send it again"},
    "record_too_large": {"zh": "{rec}：记录编码后超过消息上限；应缩短长文本字段后重新报送",
                         "en": "{rec}: the record is over the message limit once encoded; "
                               "shorten its long text fields and send it again"},
}  # fmt: skip
FALLBACK: dict[Lang, str] = {
    "zh": "{rec}：记录被退回（原因代码 {code_name}）；请按说明更正后重新报送",
    "en": "{rec}: the record was refused ({code_name}); correct it and send it again",
}
# Codes whose stage message is already a full Chinese sentence naming record and owner.
CHINESE_DETAIL = frozenset({"not_owner", "state_bound_exceeded", "output_too_large",
                            "state_too_large", "record_too_large"})  # fmt: skip


def language(accept_language: str | None) -> Lang:
    """English when the caller's first preference is English, Chinese otherwise."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def field_label(category: str, field: str, lang: Lang = "zh") -> str:
    """A field as its template names it: 作出行政处罚决定日期 (English name in English)."""
    english, _, chinese = (field or "").partition("/")
    if lang == "en":
        return english or chinese
    if chinese:
        return chinese
    if english in _PSEUDO:
        return _PSEUDO[english]
    try:
        return category_spec(category).field(english).chinese
    except KeyError:
        return english


def field_kind(category: str, field: str) -> str:
    english = (field or "").partition("/")[0]
    if (english.startswith("subject_") and english != "subject_name") or english == "uscc":
        return "code"
    try:
        return category_spec(category).field(english).kind
    except KeyError:
        return "text"


def record_label(record_ref: str, record_key: str, category: str, lang: Lang = "zh") -> str:
    """第 12 行（序号 11，行政处罚决定书文号 X） / row 12 (序号 11, key X)."""
    ref = record_ref or ""
    extra: list[str] = []
    if lang == "zh":
        if m := _ROW.match(ref):
            ref = f"第 {m.group(1)} 行"
            if m.group(2):
                extra.append(f"序号 {m.group(2)}")
        elif m := _RECORD.match(ref):
            ref = f"第 {m.group(1)} 条记录"
        else:
            ref = "记录"
    else:
        ref = ref or "record"
    if record_key:
        try:
            spec = category_spec(category)
            key_name = spec.field(spec.key_fields[0]).chinese if lang == "zh" else "key"
        except (KeyError, IndexError):
            key_name = "键" if lang == "zh" else "key"
        extra.append(f"{key_name} {record_key}")
    if not extra:
        return ref
    return f"{ref}（{'，'.join(extra)}）" if lang == "zh" else f"{ref} ({', '.join(extra)})"


def explain(
    code: str,
    *,
    lang: Lang = "zh",
    category: str = "",
    field: str = "",
    value: str = "",
    record_ref: str = "",
    record_key: str = "",
    detail: str = "",
) -> str:
    """The refusal as one sentence in `lang`: the record, the field, what was expected."""
    rec = record_label(record_ref, record_key, category, lang)
    if lang == "zh" and code in CHINESE_DETAIL and _CJK.search(detail or ""):
        return f"{rec}：{detail}" if record_ref and not detail.startswith(("记录", "第")) else detail
    template = TEMPLATES.get(code, FALLBACK)[lang]
    kind = field_kind(category, field)
    text = template.format(
        rec=rec,
        field=field_label(category, field, lang) or ("（记录）" if lang == "zh" else "(record)"),
        value=value or "",
        expected=EXPECTED.get(kind, EXPECTED["text"])[lang],
        code=EXPECTED["code"][lang],
        code_name=code,
    )
    if code not in TEMPLATES and detail:
        text += f"（{detail}）" if lang == "zh" else f" ({detail})"
    return text
