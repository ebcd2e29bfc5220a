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
from typing import Any, Literal, TypedDict

from schemas.records import PUBLIC_STATUSES, EnrichedRecord, item_id
from streams.errors import NoticeError
from streams.rules.timeliness import china_date

NoticeStage = Literal["initiated", "responded", "fed_back"]
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


def notice_id(record_event_id: str, department_name: str) -> str:
    """Deterministic: the same record and department give the same id on every replay."""
    return str(uuid.uuid5(NOTICE_NAMESPACE, f"{record_event_id}\x1f{_clean_name(department_name)}"))


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
    return [
        JointPunishmentNotice(
            notice_id=notice_id(record["event_id"], name),
            department_code=department_code(name),
            department_name=name,
            record_event_id=record["event_id"],
            uscc=record["uscc"],
            canonical_name=record["canonical_name"],
            item_id=item_id(record["category"], record["record_key"]),
            information_type=payload.get("information_type"),
            legal_basis=payload.get("legal_basis"),
            restricted_from=_iso(payload.get("restricted_from")),
            restricted_to=_iso(payload.get("restricted_to")),
            sending_department=payload.get("sending_department"),
            initiated_on=china_date(record["processed_at"]).isoformat(),
            stage="initiated",
            responded_on=None,
            fed_back_on=None,
            measures=None,
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
    if department != notice_state["department_name"]:
        raise NoticeError(
            f"notice {nid}: feedback from {department!r}, but the notice was sent to "
            f"{notice_state['department_name']!r}; a department answers only its own notices"
        )
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
    """Calendar days since the notice was sent, while it is not fed back; None once it is."""
    if notice["stage"] == "fed_back":
        return None
    return (today - dt.date.fromisoformat(notice["initiated_on"])).days
