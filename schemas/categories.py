"""The record categories and their fields: the one list every adapter, schema and sink reads.

Field names are English snake_case; each carries the Chinese name used in the national
collection templates (工商企监字〔2016〕70号, DOMAIN.md "Record categories") so spreadsheets and
JSON in either language map onto the same record. The Avro schemas in `schemas/avro/` are
written from this list; `tests/unit/test_schemas_match_categories.py` keeps them in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Category = Literal[
    "registration",
    "license",
    "license_change",
    "penalty",
    "penalty_change",
    "inspection",
    "restriction",
    "abnormal_operation",
    "red_list",
    "objection",
    "credit_repair",
    "notice_feedback",
    "chattel_mortgage",
    "equity_pledge",
    "judicial_assistance",
    "small_business_support",
    "tax_credit_rating",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)

Operation = Literal["upsert", "withdraw"]

# How a field's text is to be read: plain text, a calendar date, money in yuan (2 places),
# a list of names (template cells separate them with 、 ， ; or |), or a code to normalise.
FieldKind = Literal["text", "date", "money", "names", "code"]

# The template column that names the subject: 「统一社会信用代码（企业注册号）」 — a USCC or a
# legacy registration number. It is mandatory in every category (seed 002).
SUBJECT_CODE_HEADER = "统一社会信用代码（企业注册号）"
SUBJECT_NAME_HEADER = "企业名称"
SERIAL_HEADER = "序号"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a category's record, as the template names it."""

    name: str
    chinese: str
    kind: FieldKind = "text"
    required: bool = False
    # Where the field comes from, for the schema docs (issue #17): the column of the
    # national enterprise credit information publicity system (国家企业信用信息公示系统) or
    # the document that names it. Empty for the fields of the 2016 collection templates.
    source: str = ""

    @property
    def doc(self) -> str:
        """The Avro field's doc: the Chinese name, then where it comes from."""
        return f"{self.chinese}（来源：{self.source}）" if self.source else self.chinese


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """A record category: its fields, its natural key and its publication deadline."""

    category: Category
    chinese: str
    fields: tuple[FieldSpec, ...]
    # The department's natural key for the record: the fields whose values identify it
    # (a document number, a licence number …). Re-sends of the same key update the record.
    key_fields: tuple[str, ...]
    # The field holding the decision date the publication deadline runs from, if any.
    decision_date_field: str | None = None
    # Working days allowed from decision to publication (DOMAIN.md "Timeliness").
    deadline_working_days: int | None = None
    # Workflow events (objection, repair, feedback) act on other records and are not
    # themselves published as items of a profile.
    workflow: bool = False

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"category {self.category!r} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)


F = FieldSpec

# Sources of the fields of the categories added in issue #17 (FieldSpec.source).
_GSXT = "国家企业信用信息公示系统"
_MORTGAGE = f"{_GSXT}「动产抵押登记信息」"
_PLEDGE = f"{_GSXT}「股权出质登记信息」"
_JUDICIAL = f"{_GSXT}「司法协助信息」"
_SMALL = f"{_GSXT}「小微企业名录·享受扶持信息」"
_SMALL_SEED = "seed 002 §三「小微企业通过受政策扶持信息」"
_TAX = "税务机关发布的纳税信用等级（A级纳税人名单），seed 004"
# 《企业信息公示暂行条例》第六条: 动产抵押、股权出质登记信息 are published within 20 working
# days of being produced (the regulation, not the seeds, sets this figure).
_REGULATION_WORKING_DAYS = 20

CATEGORY_SPECS: dict[Category, CategorySpec] = {
    spec.category: spec
    for spec in (
        CategorySpec(
            "registration",
            "登记/赋码",
            (
                F("uscc", "统一社会信用代码", "code"),
                F("registration_number", "注册号", "code"),
                F("organisation_code", "组织机构代码", "code"),
                F("name", "名称", required=True),
                F("registration_authority", "登记机关"),
                F("entity_type", "类型"),
                F("established_on", "成立日期", "date"),
                F("status", "状态"),  # 存续 / 在业 / 注销 / 吊销 / 迁出 …
                F("legal_representative", "法定代表人"),
                # Issue #17: the return period (赋码颁证信息回传) runs from the code
                # assignment, not from 成立日期 (an enterprise converted years after it was
                # established is not late). Optional: records without it are not measured.
                F("code_assigned_on", "赋码日期", "date"),
            ),
            key_fields=("uscc",),
            decision_date_field="code_assigned_on",
            # Code assignments are reported back within 1 working day where the registration
            # authority is networked, 5 where not (seed 000 §二(二)); the 5 comes from the
            # department's `networked = false` (streams/rules/timeliness.py).
            deadline_working_days=1,
        ),
        CategorySpec(
            "license",
            "行政许可",
            (
                F("license_number", "许可文件编号", required=True),
                F("license_name", "许可文件名称", required=True),
                F("valid_from", "有效期自", "date", required=True),
                F("valid_to", "有效期至", "date"),
                F("licensing_authority", "许可机关", required=True),
                F("license_content", "许可内容"),
                F("status", "状态"),
                F("details", "详情"),
                # Issue #17: 双公示 counts 7 working days from the decision (seed 003 #14),
                # which is not the validity start 有效期自. Optional: licences without it
                # are not measured.
                F("decided_on", "许可决定日期", "date"),
            ),
            key_fields=("license_number",),
            decision_date_field="decided_on",
            deadline_working_days=7,
        ),
        CategorySpec(
            "license_change",
            "行政许可变更",
            (
                F("license_number", "许可文件编号", required=True),
                F("license_name", "许可文件名称"),
                F("change_item", "变更事项", required=True),
                F("content_before", "变更前内容"),
                F("content_after", "变更后内容", required=True),
                F("changed_on", "变更日期", "date", required=True),
            ),
            key_fields=("license_number", "change_item", "changed_on"),
            decision_date_field="changed_on",
            deadline_working_days=7,
        ),
        CategorySpec(
            "penalty",
            "行政处罚",
            (
                F("penalising_authority", "作出行政处罚决定机关名称", required=True),
                F("decision_number", "行政处罚决定书文号", required=True),
                F("decided_on", "作出行政处罚决定日期", "date", required=True),
                F("violation_type", "违法行为类型", required=True),
                F("fine_amount", "罚款金额", "money"),
                F("confiscation_amount", "没收金额", "money"),
                F("penalty_kind", "处罚种类", required=True),
                F("remarks", "备注"),
                # Added in Penalty v2 (schemas/avro/Penalty/v2.avsc): the 双公示 template's
                # legal basis of the decision; optional, so v1 data still reads.
                F("penalty_basis", "处罚依据"),
            ),
            key_fields=("decision_number",),
            decision_date_field="decided_on",
            deadline_working_days=7,
        ),
        CategorySpec(
            "penalty_change",
            "行政处罚变更",
            (
                F("decision_number", "行政处罚决定书文号", required=True),
                F("changing_authority", "作出变更决定机关名称", required=True),
                F("change_content", "变更内容", required=True),
                F("changed_on", "变更日期", "date", required=True),
            ),
            key_fields=("decision_number", "changed_on"),
            decision_date_field="changed_on",
            deadline_working_days=7,
        ),
        CategorySpec(
            "inspection",
            "抽查检查结果",
            (
                F("inspecting_authority", "检查实施机关", required=True),
                F("inspection_type", "抽查检查类型", required=True),
                F("inspected_on", "抽查检查日期", "date", required=True),
                F("inspection_result", "抽查检查结果", required=True),
            ),
            key_fields=("inspecting_authority", "inspection_type", "inspected_on"),
            decision_date_field="inspected_on",
        ),
        CategorySpec(
            "restriction",
            "黑名单（信用约束）",
            (
                F("legal_basis", "限制法律依据", required=True),
                F("legal_description", "法律描述"),
                F("restricted_from", "限制期限自", "date", required=True),
                F("restricted_to", "限制期限至", "date"),
                F("sending_department", "信息发送部门名称", required=True),
                F("receiving_departments", "信息接收部门名称", "names"),
                # e.g. 严重违法失信企业名单, 失信被执行人, 重大税收违法案件当事人
                F("information_type", "信息类型", required=True),
                F("person_category", "人员类别"),  # 法定代表人 / 负责人 …
                F("person_name", "姓名"),
                F("id_document_type", "证件类型"),
                # Personal data: masked for the public, keyed hash for analytics (DOMAIN.md
                # "Privacy"); the raw number never leaves streams/.
                F("id_document_number", "证件号码"),
            ),
            key_fields=("information_type", "legal_basis", "restricted_from"),
            decision_date_field="restricted_from",
            deadline_working_days=7,
        ),
        CategorySpec(
            "abnormal_operation",
            "经营异常名录",
            (
                F("list_action", "列入/移出", required=True),  # listed | removed
                F("reason", "列入（移出）原因", required=True),
                F("decided_on", "作出决定日期", "date", required=True),
                F("deciding_authority", "作出决定机关", required=True),
                # The listing decision's number: a removal (移出) names the listing it ends
                # by it, so both are versions of one item (key fields are required by the
                # producers' validation; the schema keeps it nullable, as published).
                F("listing_number", "列入决定书文号"),
            ),
            key_fields=("listing_number",),
            decision_date_field="decided_on",
            deadline_working_days=7,
        ),
        CategorySpec(
            "red_list",
            "守信红名单",
            (
                F("honour_name", "荣誉名称", required=True),
                F("awarding_authority", "认定机关", required=True),
                F("awarded_on", "认定日期", "date", required=True),
                F("valid_to", "有效期至", "date"),
                F("details", "详情"),
            ),
            key_fields=("honour_name", "awarded_on"),
            decision_date_field="awarded_on",
        ),
        CategorySpec(
            "objection",
            "异议",
            (
                F("target_category", "异议信息类别", required=True),
                F("target_record_key", "异议信息编号", required=True),
                F("objection_status", "异议状态", required=True),  # open | upheld | dismissed
                F("reason", "异议理由"),
                F("filed_on", "异议日期", "date", required=True),
            ),
            key_fields=("target_category", "target_record_key", "filed_on"),
            workflow=True,
        ),
        CategorySpec(
            "credit_repair",
            "信用修复",
            (
                F("target_category", "修复信息类别", required=True),
                F("target_record_key", "修复信息编号", required=True),
                F("repaired_on", "修复日期", "date", required=True),
                F("repairing_authority", "修复决定机关", required=True),
                F("details", "详情"),
            ),
            key_fields=("target_category", "target_record_key"),
            workflow=True,
        ),
        CategorySpec(
            "notice_feedback",
            "联合惩戒反馈",
            (
                F("notice_id", "通知编号", required=True),
                F("receiving_department", "信息接收部门名称", required=True),
                F("feedback_stage", "反馈阶段", required=True),  # responded | fed_back
                F("measures", "惩戒措施"),
                F("feedback_on", "反馈日期", "date", required=True),
            ),
            key_fields=("notice_id", "receiving_department", "feedback_stage"),
            workflow=True,
        ),
        CategorySpec(
            "chattel_mortgage",
            "动产抵押登记",
            (
                F("mortgage_number", "登记编号", required=True, source=_MORTGAGE),
                F("registered_on", "登记日期", "date", required=True, source=_MORTGAGE),
                F("registering_authority", "登记机关", required=True, source=_MORTGAGE),
                F("secured_amount", "被担保债权数额", "money", required=True, source=_MORTGAGE),
                F("status", "状态", required=True, source=_MORTGAGE),  # 有效 / 无效（注销）
                F("secured_claim_kind", "被担保债权种类", source=f"{_MORTGAGE}详情"),
                F("mortgagee", "抵押权人", source=f"{_MORTGAGE}详情"),
                F("collateral", "抵押物概况", source=f"{_MORTGAGE}详情"),
                F("published_on", "公示日期", "date", source=_MORTGAGE),
            ),
            key_fields=("mortgage_number",),
            decision_date_field="registered_on",
            deadline_working_days=_REGULATION_WORKING_DAYS,
        ),
        CategorySpec(
            "equity_pledge",
            "股权出质登记",
            (
                F("pledge_number", "登记编号", required=True, source=_PLEDGE),
                # The pledgor may be a natural person: the name is shown, as the publicity
                # system shows it; the ID number is handled as the restriction's 证件号码.
                F("pledgor", "出质人", required=True, source=_PLEDGE),
                F("id_document_type", "出质人证照/证件类型", source=_PLEDGE),
                F("id_document_number", "出质人证照/证件号码", source=_PLEDGE),
                F("pledged_amount", "出质股权数额", "money", required=True, source=_PLEDGE),
                F("pledgee", "质权人", required=True, source=_PLEDGE),
                F("registered_on", "股权出质设立登记日期", "date", required=True, source=_PLEDGE),
                F("status", "状态", required=True, source=_PLEDGE),  # 有效 / 无效
                F("published_on", "公示日期", "date", source=_PLEDGE),
                F("changes", "变化情况", source=_PLEDGE),
            ),
            key_fields=("pledge_number",),
            decision_date_field="registered_on",
            deadline_working_days=_REGULATION_WORKING_DAYS,
        ),
        CategorySpec(
            "judicial_assistance",
            "司法协助",
            (
                # A release (解除冻结) is sent under the freeze's 执行通知书文号 with 状态
                # 解除冻结: both are versions of one item, as a 移出 is of its listing.
                F("notice_number", "执行通知书文号", required=True, source=_JUDICIAL),
                # 类型: 股权冻结 / 股东变更; 状态: 冻结 / 解除冻结 / 失效 / 股东变更.
                F("assistance_type", "类型", required=True, source=_JUDICIAL),
                F("assistance_status", "状态", required=True, source=_JUDICIAL),
                F("debtor", "被执行人", required=True, source=_JUDICIAL),
                F("id_document_type", "被执行人证照种类", source=f"{_JUDICIAL}详情"),
                F("id_document_number", "被执行人证照号码", source=f"{_JUDICIAL}详情"),
                F("equity_amount", "股权数额", "money", required=True, source=_JUDICIAL),
                F("enforcing_court", "执行法院", required=True, source=_JUDICIAL),
                F("ruling_number", "执行裁定书文号", source=f"{_JUDICIAL}详情"),
                F("enforcement_item", "执行事项", source=f"{_JUDICIAL}详情"),
                F("executed_on", "协助执行日期", "date", required=True, source=f"{_JUDICIAL}详情"),
                F("frozen_from", "冻结期限自", "date", source=f"{_JUDICIAL}详情（股权冻结）"),
                F("frozen_to", "冻结期限至", "date", source=f"{_JUDICIAL}详情（股权冻结）"),
                F("unfrozen_on", "解除冻结日期", "date", source=f"{_JUDICIAL}详情（解除冻结）"),
                F("transferee", "受让人", source=f"{_JUDICIAL}详情（股东变更）"),
                F("published_on", "公示日期", "date", source=_JUDICIAL),
            ),
            key_fields=("notice_number",),
            decision_date_field="executed_on",
        ),
        CategorySpec(
            "small_business_support",
            "小微企业享受扶持政策信息",
            (
                F("supporting_department", "扶持部门", required=True, source=_SMALL),
                F("support_type", "扶持类型", required=True, source=_SMALL),
                F("support_content", "扶持内容", required=True, source=_SMALL),
                F("support_amount", "扶持金额", "money", source=_SMALL),
                F("implemented_on", "实施日期", "date", required=True, source=_SMALL),
                F("policy_basis", "扶持政策依据", source=_SMALL_SEED),
            ),
            key_fields=("supporting_department", "support_type", "implemented_on"),
            decision_date_field="implemented_on",
        ),
        CategorySpec(
            "tax_credit_rating",
            "纳税信用等级",
            (
                F("evaluation_year", "评价年度", required=True, source=_TAX),
                F("credit_grade", "纳税信用等级", required=True, source=f"{_TAX}；A/B/M/C/D"),
                F("evaluating_authority", "评价机关", required=True, source=_TAX),
                F("published_on", "发布日期", "date", required=True, source=_TAX),
            ),
            key_fields=("evaluation_year",),
            decision_date_field="published_on",
        ),
    )
}


# The domain sets (issue #14: one meaning per name), each in CATEGORIES' order.
# A change names the item it changes by the item's document number (DOMAIN.md "Record
# categories"); the items stage applies it to that item.
CHANGE_TARGETS: dict[str, str] = {"license_change": "license", "penalty_change": "penalty"}
CHANGE_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c in CHANGE_TARGETS)
# Workflow events (objection, repair, feedback) act on other records and are not published
# as items themselves.
WORKFLOW_CATEGORIES: tuple[Category, ...] = tuple(
    c for c in CATEGORIES if CATEGORY_SPECS[c].workflow
)
# The workflow events that act on a public item (notice feedback acts on a notice).
ITEM_WORKFLOW_CATEGORIES: tuple[Category, ...] = ("objection", "credit_repair")
# The field that holds a person's ID number (证件号码): sealed by the producers, replaced by a
# mask and a keyed hash in streams/, never stored or shown in clear (DOMAIN.md "Privacy").
PERSONAL_ID_FIELD = "id_document_number"
PERSONAL_ID_CATEGORIES: tuple[Category, ...] = tuple(
    c for c in CATEGORIES if PERSONAL_ID_FIELD in CATEGORY_SPECS[c].field_names
)
# The public items: one licence, penalty, inspection, listing or honour of an enterprise,
# kept and versioned by the items stage. Registration is the enterprise's identity, not an
# item; changes and workflow events reach an item as new versions of it.
ITEM_CATEGORIES: tuple[Category, ...] = tuple(
    c
    for c in CATEGORIES
    if c != "registration" and c not in CHANGE_CATEGORIES and c not in WORKFLOW_CATEGORIES
)
# What a profile lists and the analytics store keeps one typed table for: the items and the
# change records (history of their own); not registration (the identity) nor workflow events.
ITEM_AND_CHANGE_CATEGORIES: tuple[Category, ...] = tuple(
    c for c in CATEGORIES if c in ITEM_CATEGORIES or c in CHANGE_CATEGORIES
)


def category_spec(category: str) -> CategorySpec:
    """The spec of a category, or a KeyError that lists the known ones."""
    try:
        return CATEGORY_SPECS[category]  # type: ignore[index]
    except KeyError:
        raise KeyError(
            f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}"
        ) from None
