"""Where an item stands in the public view (DOMAIN.md "Publication periods", "Objections").

A restriction is public from 限制期限自 to 限制期限至 and leaves the view when the period ends
or the enterprise completes credit repair (信用修复); an abnormal-operations listing stays until
a removal record; an open objection (异议) marks an item as under review; an upheld objection
or a withdrawal takes it out. Items leaving the view stay in history (ClickHouse), and the
profile shows when and why each left (`end_of_publication`).

Public periods (issue #17) are one pure rule, `public_until(category, payload)`: the last day
an item is public, from its own end date (限制期限至, 有效期至) or the category's configured
period counted from its decision date (`PERIOD_DEFAULTS`, CREDITSYNC_PUBLIC_PERIOD_<NAME>).
The items stage's expiry timer re-evaluates items the day after (`next_expiry`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.categories import Operation
from schemas.records import PublicationStatus
from streams.errors import PublicationError

ObjectionStatus = Literal["open", "upheld", "dismissed"]

# Departments write the status in their own words; these are the ones the templates use.
_OBJECTION_STATUSES: dict[str, ObjectionStatus] = {
    "open": "open",
    "处理中": "open",
    "受理": "open",
    "已受理": "open",
    "审核中": "open",
    "upheld": "upheld",
    "成立": "upheld",
    "异议成立": "upheld",
    "dismissed": "dismissed",
    "不成立": "dismissed",
    "异议不成立": "dismissed",
    "驳回": "dismissed",
}
_REMOVED_ACTIONS = frozenset({"removed", "移出"})
# Categories with an end date after which the item leaves the public view, and its field.
# A red-list honour ends with its 有效期至 like a restriction with its 限制期限至; a licence
# past 有效期至 stays public — the grant is a fact, its validity is shown with it.
_END_DATE_FIELDS = {"restriction": "restricted_to", "red_list": "valid_to"}


@dataclass(frozen=True, slots=True)
class PeriodDefault:
    """A public period in months (None: no period of its own) and where it comes from."""

    months: int | None
    source: str


# The default public periods, by period name, with where each comes from. The seeds
# (shared/seeds/) and DOMAIN.md fix no duration: they name the lists, their end dates
# (限制期限自/至, seed 002 三(六)) and the 双公示 deadline (seed 003 #14) only. The three
# periods with a duration are therefore the project's choice PENDING CONFIRMATION by the
# credit office; the national documents they follow were checked against secondary copies of
# their text, not the official publication. CREDITSYNC_PUBLIC_PERIOD_<NAME>=<months>|none
# overrides any of them.
_NOTICE_527 = (
    "国家发展改革委办公厅《关于进一步完善“信用中国”网站及地方信用门户网站行政处罚信息信用"
    "修复机制的通知》（发改办财金〔2019〕527号）"
)
PERIOD_DEFAULTS: dict[str, PeriodDefault] = {
    "penalty": PeriodDefault(
        36,
        "行政处罚, from 作出行政处罚决定日期. Not in the seeds (seed 003 #14 sets only the "
        "7-working-day push). Project's choice pending confirmation: the longest period "
        f"{_NOTICE_527} gives penalties for 严重失信行为 (最长三年, from the decision). That "
        "notice sorts penalties by 严重/一般失信行为, which the templates do not record; the "
        "project gives the longer period to every penalty that is more than 警告/通报批评",
    ),
    "penalty_minor": PeriodDefault(
        12,
        "行政处罚 whose 处罚种类 is only 警告 and/or 通报批评, from 作出行政处罚决定日期. Not in "
        "the seeds. Project's choice pending confirmation: the longest period the same notice "
        f"({_NOTICE_527}) gives penalties for 一般失信行为 (最长一年); treating 警告/通报批评 "
        "as 一般失信行为 is the project's reading. 简易程序 (当场) penalties are not published "
        "at all under the national rules, but the templates carry no procedure field to tell "
        "them by",
    ),
    "serious_violation": PeriodDefault(
        60,
        "黑名单 whose 信息类型 is 严重违法失信企业名单 and that has no 限制期限至, "
        "from 限制期限自. Not in the seeds. Project's choice pending confirmation: "
        "《严重违法失信企业名单管理暂行办法》"
        "（原国家工商行政管理总局令第83号）moves an enterprise off the list "
        "5 years after listing; that 办法 has since been replaced by "
        "《市场监督管理严重违法失信名单管理办法》(2021), whose period is not "
        "checked here",
    ),
    "restriction": PeriodDefault(
        None,
        "黑名单: public from 限制期限自 to 限制期限至 (seed 002 三(六) template fields; seed 003 "
        "#17 联合惩戒期限; DOMAIN.md Publication periods); without 限制期限至, until it ends",
    ),
    "abnormal_operation": PeriodDefault(
        None,
        "经营异常名录: until a removal (移出) record (DOMAIN.md Publication periods; "
        "《企业经营异常名录管理暂行办法》)",
    ),
    "red_list": PeriodDefault(
        None,
        "守信红名单: until 有效期至 (seed 004 六(二) 红黑名单发布常态化; seeds silent on a period)",
    ),
    "license": PeriodDefault(
        None,
        "行政许可: seeds silent (seed 003 #14 双公示 only); the grant stays public, its "
        "validity 有效期自/至 shown with it",
    ),
    "inspection": PeriodDefault(
        None, "抽查检查结果: seeds silent (seed 002 三(五) template fields only); no period"
    ),
}
_MINOR_PENALTY_KINDS = frozenset({"警告", "通报批评"})
_SERIOUS_LIST = "严重违法失信"


@dataclass(frozen=True, slots=True)
class PublicationPeriods:
    """Months each period name lasts (None: no period of its own)."""

    months: Mapping[str, int | None]

    def of(self, name: str) -> int | None:
        return self.months.get(name)


DEFAULT_PERIODS = PublicationPeriods({k: v.months for k, v in PERIOD_DEFAULTS.items()})


def periods_from_env(environ: Mapping[str, str]) -> PublicationPeriods:
    """The defaults with CREDITSYNC_PUBLIC_PERIOD_<NAME>=<months>|none applied;
    PublicationError naming the variable for anything else."""
    months: dict[str, int | None] = dict(DEFAULT_PERIODS.months)
    for name in PERIOD_DEFAULTS:
        variable = f"CREDITSYNC_PUBLIC_PERIOD_{name.upper()}"
        raw = environ.get(variable)
        if raw is None or raw.strip() == "":
            continue
        text = raw.strip().lower()
        if text == "none":
            months[name] = None
        elif text.isdigit() and int(text) > 0:
            months[name] = int(text)
        else:
            raise PublicationError(
                f"{variable}={raw!r}: expected a number of months (e.g. 36) or 'none'"
            )
    return PublicationPeriods(months)


@functools.cache
def configured_periods() -> PublicationPeriods:
    """The periods of this process, from the environment once (settings are read at start)."""
    return periods_from_env(os.environ)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months, the day clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _date(payload: Mapping[str, Any], name: str) -> dt.date | None:
    value = payload.get(name)
    return value if isinstance(value, dt.date) else None


def period_name(category: str, payload: Mapping[str, Any]) -> str:
    """Which period (PERIOD_DEFAULTS) applies to an item."""
    if category == "penalty":
        kinds = {k.strip() for k in _split_kinds(payload.get("penalty_kind"))}
        return "penalty_minor" if kinds and kinds <= _MINOR_PENALTY_KINDS else "penalty"
    if category == "restriction" and _SERIOUS_LIST in str(payload.get("information_type", "")):
        return "serious_violation"
    return category


def _split_kinds(value: Any) -> list[str]:
    text = str(value or "")
    for sep in ("、", "，", ",", ";", "；", "|", "/"):
        text = text.replace(sep, " ")
    return [part for part in text.split() if part]


# The date a category's period runs from.
_PERIOD_START_FIELDS = {
    "penalty": "decided_on",
    "restriction": "restricted_from",
    "license": "decided_on",
    "inspection": "inspected_on",
    "red_list": "awarded_on",
    "abnormal_operation": "decided_on",
}


def public_until(
    category: str, payload: Mapping[str, Any], periods: PublicationPeriods | None = None
) -> dt.date | None:
    """The last day the item is public, or None when nothing but an event ends it.

    The item's own end date (限制期限至, 有效期至) when it has one; else its period (months
    from its start date, PERIOD_DEFAULTS) when one is configured. A restriction with a
    限制期限至 keeps it even past its list's period: the deciding authority set it."""
    own = _date(payload, _END_DATE_FIELDS.get(category, ""))
    if own is not None:
        return own
    months = (periods or configured_periods()).of(period_name(category, payload))
    start = _date(payload, _PERIOD_START_FIELDS.get(category, ""))
    if months is None or start is None:
        return None
    return add_months(start, months) - dt.timedelta(days=1)


@dataclass(slots=True)
class WorkflowState:
    """Workflow events that act on one item: objections by filing date, and credit repair."""

    objections: dict[str, ObjectionStatus] = field(default_factory=dict)  # filed_on ISO → status
    repaired_on: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for a stage table."""
        return {
            "objections": dict(self.objections),
            "repaired_on": self.repaired_on.isoformat() if self.repaired_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowState:
        repaired = data.get("repaired_on")
        return cls(
            objections=dict(data.get("objections") or {}),
            repaired_on=dt.date.fromisoformat(repaired) if repaired else None,
        )


def objection_status(value: Any) -> ObjectionStatus:
    """The objection status a department's wording means."""
    status = _OBJECTION_STATUSES.get(str(value).strip()) if value is not None else None
    if status is None:
        raise PublicationError(
            f"objection_status (异议状态) {value!r} is not known; expected open/upheld/dismissed "
            "(处理中/成立/不成立)"
        )
    return status


def apply_workflow_event(
    state: WorkflowState | None, category: str, payload: Mapping[str, Any]
) -> WorkflowState:
    """The item's workflow state after an objection or credit-repair event (a new object).

    A decided objection (upheld, dismissed) is final: a late "open" for the same filing does
    not reopen it, whatever order the events arrive in. Repair keeps its earliest date.
    """
    state = WorkflowState.from_dict(state.to_dict()) if state else WorkflowState()
    if category == "objection":
        filed_on = payload.get("filed_on")
        if not isinstance(filed_on, dt.date):
            raise PublicationError(f"objection: filed_on (异议日期) {filed_on!r} is not a date")
        key = filed_on.isoformat()
        status = objection_status(payload.get("objection_status"))
        if state.objections.get(key) in (None, "open"):
            state.objections[key] = status
    elif category == "credit_repair":
        repaired_on = payload.get("repaired_on")
        if not isinstance(repaired_on, dt.date):
            raise PublicationError(
                f"credit_repair: repaired_on (修复日期) {repaired_on!r} is not a date"
            )
        if state.repaired_on is None or repaired_on < state.repaired_on:
            state.repaired_on = repaired_on
    else:
        raise PublicationError(f"category {category!r} is not a workflow event for an item")
    return state


def publication_status(
    category: str,
    payload: Mapping[str, Any],
    today: dt.date,
    workflow_state: WorkflowState | None = None,
    operation: Operation = "upsert",
    periods: PublicationPeriods | None = None,
) -> PublicationStatus:
    """The item's status today. First that applies: withdrawn (withdraw operation or an
    upheld objection), repaired, removed (abnormal-operations removal), expired (end date
    before today), under review (an open objection), else public.

    A restriction whose 限制期限自 is still ahead is public already: the decision is made and
    departments check it before granting licences.
    """
    state = workflow_state or WorkflowState()
    objections = set(state.objections.values())
    if operation == "withdraw" or "upheld" in objections:
        return "withdrawn"
    if state.repaired_on is not None:
        return "repaired"
    if category == "abnormal_operation" and str(payload.get("list_action", "")).strip() in (
        _REMOVED_ACTIONS
    ):
        return "removed"
    end = public_until(category, payload, periods)
    if end is not None and end < today:
        return "expired"
    if "open" in objections:
        return "under_review"
    return "public"


def next_expiry(
    category: str, payload: Mapping[str, Any], periods: PublicationPeriods | None = None
) -> dt.date | None:
    """The first day the item is expired (the day after `public_until`), for a timer to
    re-evaluate it; None when it has no end."""
    end = public_until(category, payload, periods)
    return end + dt.timedelta(days=1) if end is not None else None


_EXPIRED_REASONS = {
    "restriction": "限制期限届满",
    "red_list": "有效期届满",
}


def end_of_publication(
    status: PublicationStatus,
    category: str,
    payload: Mapping[str, Any],
    workflow_state: WorkflowState | None = None,
    withdrawn_on: dt.date | None = None,
    periods: PublicationPeriods | None = None,
) -> tuple[dt.date | None, str | None]:
    """When and why an item left the public view, as its profile's history shows it:
    (None, None) while it is public. `withdrawn_on`: the day the department's withdrawal
    was sent (撤销). The reason is in Chinese: the public reads it."""
    state = workflow_state or WorkflowState()
    if status in ("public", "under_review"):
        return None, None
    if status == "withdrawn":
        upheld = [dt.date.fromisoformat(k) for k, v in state.objections.items() if v == "upheld"]
        if upheld:
            return max(upheld), "异议成立，撤销公示"
        return withdrawn_on, "决定机关撤销"
    if status == "repaired":
        return state.repaired_on, "信用修复，提前停止公示"
    if status == "removed":
        reason = str(payload.get("reason") or "").strip()
        return _date(payload, "decided_on"), "移出经营异常名录" + (f"：{reason}" if reason else "")
    # expired
    end = public_until(category, payload, periods)
    name = period_name(category, payload)
    if category in _EXPIRED_REASONS and _date(payload, _END_DATE_FIELDS[category]):
        return end, _EXPIRED_REASONS[category]
    months = (periods or configured_periods()).of(name)
    return end, f"公示期满（{months} 个月）" if months else "公示期满"
