"""Joint-punishment notices, one per receiving department (「一处违法、处处受限」, seed 003 #16).

A restriction names the departments that must act on it (信息接收部门名称). Each gets a notice
on its own topic, credit.notices.<department code>, and reports back what it did:
发起 initiated → 响应 responded → 反馈 fed_back. A notice is open until fed back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from schemas.records import PUBLIC_STATUSES, EnrichedRecord, item_id
from streams.errors import NoticeError
from streams.rules.timeliness import china_date

NoticeStage = Literal["initiated", "responded", "fed_back"]
# What a message on credit.notices.<code> says happened: a new notice, a department's
# feedback, or the restriction leaving the public view (the department may lift its measures).
NoticeKind = Literal["initiated", "feedback", "ended"]
STAGE_ORDER: dict[NoticeStage, int] = {"initiated": 0, "responded": 1, "fed_back": 2}
_FEEDBACK_STAGES: dict[str, NoticeStage] = {
    "responded": "responded",
    "响应": "responded",
    "已响应": "responded",
    "fed_back": "fed_back",
    "反馈": "fed_back",
    "已反馈": "fed_back",
}
# uuid5 namespace of notice ids: fixed forever, or re-sent records would notify twice.
NOTICE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:creditsync:joint-punishment-notice")

# Department name → topic code, by the words that name the department's line of work; first
# match wins, so the more specific words come first. The six codes of
# schemas.topics.DEFAULT_NOTICE_DEPARTMENTS have topics created up front; any other
# department gets "dept-" + a hash of its name: stable, topic-safe, created on first use.
DEPARTMENT_CODES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("法院",), "court"),
    (("税务",), "tax"),
    (("市场监督", "市场监管", "工商行政", "工商局"), "market"),
    (("住房", "住建", "城乡建设", "建设厅", "建设局"), "housing"),
    (("生态环境", "环境保护", "环保"), "environment"),
    (("人民银行", "银行", "银保监", "证监", "金融"), "finance"),
    (("发展和改革", "发展改革", "发改"), "development"),
    (("公安",), "police"),
    (("海关",), "customs"),
    (("应急管理", "安全生产", "安监"), "safety"),
    (("人力资源", "人社"), "labour"),
    (("交通运输", "交通"), "transport"),
    (("自然资源", "国土"), "land"),
    (("财政",), "fiscal"),
)
# What a receiving department is expected to do (seed 003 #19 lists the measures by line of
# work); departments without an entry get the general measures.
MEASURES_EXPECTED: dict[str, str] = {
    "tax": "纳税信用评价从严、出口退税从严审核、发票领用从严管理",
    "housing": "限制参与政府投资工程招标投标、从严审核建筑业企业资质",
    "finance": "授信、融资从严审核，依法限制发行债券",
    "market": "限制担任法定代表人及高管、从严审核登记事项",
    "development": "限制申报政府投资项目和企业债券",
    "fiscal": "限制参与政府采购、限制申请财政资金",
    "court": "依法限制高消费",
    "land": "限制参与土地出让竞买",
}
GENERAL_MEASURES = "在行政许可、政府采购、招标投标、财政资金安排等方面依法依规予以限制"
# Calendar days a receiving department has to feed back; no seed fixes it, so this is the
# system's default, shown with each notice as its deadline and aged on the dashboard.
FEEDBACK_DAYS = 30
ENDED_REASONS: dict[str, str] = {
    "expired": "限制期限届满",
    "repaired": "已信用修复",
    "withdrawn": "报送部门已撤回",
    "removed": "已移出公示",
}
_NAME_SEPARATORS = re.compile(r"[、，,;；|\n]+")


def _clean_name(name: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def department_code(name: str) -> str:
    """The topic-safe code of a receiving department (see DEPARTMENT_CODES)."""
    cleaned = _clean_name(name)
    for words, code in DEPARTMENT_CODES:
        if any(word in cleaned for word in words):
            return code
    return "dept-" + hashlib.sha256(cleaned.encode("utf-8")).hexdigest()[:12]


def receiving_departments(value: Any) -> list[str]:
    """The department names of 信息接收部门名称, from a list or one cell (、，; | separated),
    cleaned and without repeats, in the order given."""
    if value is None:
        return []
    parts = _NAME_SEPARATORS.split(value) if isinstance(value, str) else list(value)
    names: list[str] = []
    for part in parts:
        cleaned = _clean_name(str(part))
        if cleaned and cleaned not in names:
            names.append(cleaned)
    return names


class JointPunishmentNotice(TypedDict):
    """A notice to one department, JSON-safe (dates as ISO strings) for topics and tables."""

    notice_id: str
    department_code: str
    department_name: str
    record_event_id: str
    uscc: str
    canonical_name: str
    item_id: str
    information_type: str | None
    legal_basis: str | None
    restricted_from: str | None
    restricted_to: str | None
    sending_department: str | None
    initiated_on: str
    stage: NoticeStage
    responded_on: str | None
    fed_back_on: str | None
    measures: str | None
    kind: NotRequired[NoticeKind]
    measures_expected: NotRequired[str]
    deadline: NotRequired[str]
    ended_on: NotRequired[str | None]
    ended_reason: NotRequired[str | None]


def notice_id(uscc: str, item: str, department: str) -> str:
    """Deterministic from the restriction (its enterprise and item) and the receiving
    department's code: replays, re-sends and corrections of the restriction keep the id, and
    a sample file or a department can compute it ahead of time."""
    code = department_code(department)
    return str(uuid.uuid5(NOTICE_NAMESPACE, f"{uscc}\x1f{item}\x1f{code}"))


def measures_expected(code: str) -> str:
    """The measures a department of this code is expected to take (MEASURES_EXPECTED)."""
    return MEASURES_EXPECTED.get(code, GENERAL_MEASURES)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else value


def notices_for(record: EnrichedRecord) -> list[JointPunishmentNotice]:
    """One notice per receiving department of a restriction in force; none for other
    categories, withdrawals, or restrictions no longer public (expired, repaired …)."""
    if (
        record["category"] != "restriction"
        or record["operation"] != "upsert"
        or record["publication_status"] not in PUBLIC_STATUSES
    ):
        return []
    payload = record["payload"]
    item = item_id(record["category"], record["record_key"])
    initiated = china_date(record["processed_at"])
    return [
        JointPunishmentNotice(
            notice_id=notice_id(record["uscc"], item, name),
            department_code=department_code(name),
            department_name=name,
            record_event_id=record["event_id"],
            uscc=record["uscc"],
            canonical_name=record["canonical_name"],
            item_id=item,
            information_type=payload.get("information_type"),
            legal_basis=payload.get("legal_basis"),
            restricted_from=_iso(payload.get("restricted_from")),
            restricted_to=_iso(payload.get("restricted_to")),
            sending_department=payload.get("sending_department"),
            initiated_on=initiated.isoformat(),
            stage="initiated",
            responded_on=None,
            fed_back_on=None,
            measures=None,
            kind="initiated",
            measures_expected=measures_expected(department_code(name)),
            deadline=(initiated + dt.timedelta(days=FEEDBACK_DAYS)).isoformat(),
            ended_on=None,
            ended_reason=None,
        )
        for name in receiving_departments(payload.get("receiving_departments"))
    ]


def apply_feedback(
    notice_state: JointPunishmentNotice, feedback_payload: Mapping[str, Any]
) -> JointPunishmentNotice:
    """The notice after a department's feedback (a new dict). Stages only move forward: late
    or repeated feedback fills in its date and measures but never reopens a notice."""
    nid = notice_state["notice_id"]
    if feedback_payload.get("notice_id") != nid:
        raise NoticeError(
            f"feedback for notice {feedback_payload.get('notice_id')!r} applied to notice {nid}"
        )
    department = _clean_name(str(feedback_payload.get("receiving_department") or ""))
    check_answerer(notice_state, department)
    raw_stage = str(feedback_payload.get("feedback_stage") or "").strip()
    stage = _FEEDBACK_STAGES.get(raw_stage)
    if stage is None:
        raise NoticeError(
            f"notice {nid}: feedback_stage (反馈阶段) {raw_stage!r} is not known; expected "
            "responded/fed_back (响应/反馈)"
        )
    feedback_on = feedback_payload.get("feedback_on")
    if not isinstance(feedback_on, dt.date):
        raise NoticeError(f"notice {nid}: feedback_on (反馈日期) {feedback_on!r} is not a date")
    state = JointPunishmentNotice(**notice_state)  # type: ignore[typeddict-item]
    state["kind"] = "feedback"
    date_field = "responded_on" if stage == "responded" else "fed_back_on"
    if state[date_field] is None:  # type: ignore[literal-required]
        state[date_field] = feedback_on.isoformat()  # type: ignore[literal-required]
    # Measures of the furthest stage win; an earlier stage's only fill a gap.
    latest = STAGE_ORDER[stage] >= STAGE_ORDER[state["stage"]]
    if feedback_payload.get("measures") and (latest or state["measures"] is None):
        state["measures"] = feedback_payload["measures"]
    if STAGE_ORDER[stage] > STAGE_ORDER[state["stage"]]:
        state["stage"] = stage
    return state


def open_notice_age_days(notice: JointPunishmentNotice, today: dt.date) -> int | None:
    """Calendar days since the notice was sent, while it is not fed back; None once it is,
    or once its restriction ended (nothing more is expected of the department)."""
    if notice["stage"] == "fed_back" or notice.get("ended_on"):
        return None
    return (today - dt.date.fromisoformat(notice["initiated_on"])).days


def check_answerer(notice: JointPunishmentNotice, department_name: str) -> None:
    """NoticeError (in Chinese) unless `department_name` is the notice's receiving department
    (the same line of work: department_code), which alone may answer it."""
    code = department_code(department_name)
    if code != notice["department_code"]:
        raise NoticeError(
            f"通知 {notice['notice_id']} 发给「{notice['department_name']}」，"
            f"「{department_name}」不能反馈；各部门只能反馈发给本部门的联合惩戒通知"
        )


def unknown_notice(notice: str, uscc: str) -> NoticeError:
    """The refusal of feedback naming a notice that was never sent for this enterprise."""
    return NoticeError(
        f"通知编号（notice_id）{notice!r} 不存在：未向任何部门发出过企业 {uscc} 的这一联合惩戒"
        "通知；请核对通知编号（GET /v1/department/notices 列出本部门收到的通知）"
    )


def end_notice(notice: JointPunishmentNotice, status: str, today: dt.date) -> JointPunishmentNotice:
    """The notice once its restriction left the public view (`status`: expired, repaired,
    withdrawn …): the receiving department is told it may lift its measures. Stage and
    feedback are kept; ending twice keeps the first date."""
    state = JointPunishmentNotice(**notice)  # type: ignore[typeddict-item]
    if state.get("ended_on"):
        return state
    state["kind"] = "ended"
    state["ended_on"] = today.isoformat()
    state["ended_reason"] = ENDED_REASONS.get(status, status)
    return state


def notice_ids_of(record: EnrichedRecord) -> list[str]:
    """The ids of the notices a restriction sent (or would send), one per receiving
    department."""
    item = item_id(record["category"], record["record_key"])
    return [
        notice_id(record["uscc"], item, name)
        for name in receiving_departments(record["payload"].get("receiving_departments"))
    ]
