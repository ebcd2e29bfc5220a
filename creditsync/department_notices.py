"""A receiving department's side of joint punishment and its 查错查重 findings, over HTTP.

`GET /v1/department/notices` lists the notices sent to the department (restriction, measures
expected, deadline, stage); `POST /v1/department/notices/{id}/feedback` answers one (响应 or
反馈, with the measures taken) as a `notice_feedback` record through the intake's own path
(validation, ledger, Kafka), the same record a file gives to `creditsync ingest`;
`GET /v1/department/check/{code}` is the check at the point of decision (a licence, funds, a
tender): the measures in force for the enterprise that this department applies, each check
recorded as its 响应 to the notice; `GET /v1/department/findings` lists the findings on the
records it registered. The department is the holder of the bearer token; another department's
notice is 403, an unknown one 404, with the reason in Chinese.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder

from producers.departments import DepartmentAccess
from producers.http_payload import IntakeRefused, bearer_token
from schemas.records import PUBLIC_STATUSES
from sinks.publicity.api import api_error, parse_entity_code
from streams.rules.notices import (
    department_code,
    measures_expected,
    notice_id,
    receiving_departments,
)
from streams.rules.timeliness import china_date

NOTICE_COLUMNS = (
    "notice_id", "department_code", "department_name", "uscc", "canonical_name", "item_id",
    "information_type", "legal_basis", "restricted_from", "restricted_to",
    "sending_department", "measures_expected", "deadline", "initiated_on", "stage",
    "responded_on", "fed_back_on", "measures", "ended_on", "ended_reason",
)  # fmt: skip
FINDING_COLUMNS = (
    "finding_id", "reason", "status", "uscc", "kind", "code", "other_uscc", "detail",
    "category", "event_id", "record_key", "detected_at",
)  # fmt: skip
FINDING_REASONS = {
    "organisation_code_mismatch": "组织机构代码与统一社会信用代码不一致",
    "legacy_code_claimed": "旧代码已对应另一统一社会信用代码",
    "legacy_code_claimed_twice": "一个旧代码对应两个统一社会信用代码",
    "enterprise_under_two_usccs": "一个注册号对应两个统一社会信用代码",
    "legacy_code_changed": "同一统一社会信用代码报送了不同的注册号",
    "one_code_two_names": "一个代码、两个名称",
    "one_name_two_codes": "一个名称、两个代码（疑似重复登记）",
}
# What a department grants to red-list entities (守信联合激励, seed 003 #18).
INCENTIVES = "守信联合激励：行政审批「绿色通道」、容缺受理；同等条件下优先安排财政资金和招标投标"
STAGES = {"responded": "responded", "响应": "responded", "fed_back": "fed_back", "反馈": "fed_back"}
PURPOSES = {"licence": "行政许可", "funds": "财政资金", "tender": "招标投标", "other": "其他事项"}
_NOTICE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_LISTED = 1000

Analytics = Callable[[str], Any]  # read-only SQL -> result with columns and rows
# The department's bearer token (module level: the routes' annotations are resolved here).
Auth = Annotated[str | None, Header()]


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def restrictions_applied_by(profile: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """The public restrictions of a profile that name a department of `code` among their
    receiving departments, with the notice id that department received."""
    found = []
    for item in profile.get("items", {}).get("restriction", []):
        if item.get("status") not in PUBLIC_STATUSES:
            continue
        names = receiving_departments(item.get("payload", {}).get("receiving_departments"))
        mine = [n for n in names if department_code(n) == code]
        if mine:
            found.append(
                {
                    "notice_id": notice_id(profile["uscc"], item["item_id"], mine[0]),
                    "item_id": item["item_id"],
                    "information_type": item["payload"].get("information_type"),
                    "legal_basis": item["payload"].get("legal_basis"),
                    "restricted_from": item["payload"].get("restricted_from"),
                    "restricted_to": item["payload"].get("restricted_to"),
                    "sending_department": item["payload"].get("sending_department"),
                }
            )
    return found


def feedback_record(
    notice: dict[str, Any], stage: str, measures: str | None, on: dt.date
) -> dict[str, Any]:
    """The notice_feedback record (snake_case template fields) answering `notice`."""
    return {
        "subject_code": notice["uscc"],
        "subject_name": notice.get("canonical_name") or None,
        "notice_id": notice["notice_id"],
        "receiving_department": notice["department_name"],
        "feedback_stage": stage,
        "measures": measures,
        "feedback_on": on.isoformat(),
    }


class DepartmentNotices:
    """What the routes need: the intake (tokens, publishing), ClickHouse, the public index."""

    def __init__(
        self, intake: Any, analytics: Analytics | None, reader: Any, lock: threading.Lock
    ) -> None:
        self.intake, self.analytics, self.reader, self.lock = intake, analytics, reader, lock

    def department(self, authorization: str | None) -> DepartmentAccess:
        found = self.intake.departments.authenticate(bearer_token(authorization))
        if found is None:
            raise api_error(401, "unauthorised", "需要有效的部门令牌：Authorization: Bearer <令牌>")
        return found  # type: ignore[no-any-return]

    def query(self, sql: str) -> list[dict[str, Any]]:
        if self.analytics is None:
            raise api_error(503, "analytics_unavailable", "本服务未连接分析库（ClickHouse）")
        with self.lock:  # embedded chdb: one query at a time per process
            return _rows(self.analytics(sql))

    def notices(self, department: DepartmentAccess, open_only: bool) -> list[dict[str, Any]]:
        code = department_code(department.name)  # [a-z0-9-] only: safe in SQL
        where = " AND stage != 'fed_back' AND ended_on IS NULL" if open_only else ""
        return self.query(
            f"SELECT {', '.join(NOTICE_COLUMNS)} FROM notices FINAL "
            f"WHERE department_code = '{code}'{where} "
            f"ORDER BY initiated_on, notice_id LIMIT {MAX_LISTED}"
        )

    def notice(self, department: DepartmentAccess, nid: str) -> dict[str, Any]:
        """The notice, or 404 (unknown) / 403 (sent to another department), in Chinese."""
        nid = nid.strip().lower()
        rows = (
            self.query(
                f"SELECT {', '.join(NOTICE_COLUMNS)} FROM notices FINAL "
                f"WHERE notice_id = '{nid}' LIMIT 1"
            )
            if _NOTICE_ID.fullmatch(nid)
            else []
        )
        if not rows:
            raise api_error(
                404,
                "unknown_notice",
                f"通知编号 {nid!r} 不存在：没有发出过这一联合惩戒通知（或尚未入库）；"
                "GET /v1/department/notices 列出本部门收到的通知",
            )
        notice = rows[0]
        if notice["department_code"] != department_code(department.name):
            raise api_error(
                403,
                "not_your_notice",
                f"通知 {nid} 发给「{notice['department_name']}」，不是本部门"
                f"（{department.name}）；各部门只能查看和反馈发给本部门的通知",
            )
        return notice

    def answer(self, department: DepartmentAccess, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Publish notice_feedback records through the intake path; its response body."""
        try:
            return self.intake.submit(department, "notice_feedback", records)  # type: ignore[no-any-return]
        except IntakeRefused as exc:
            raise exc.as_http() from None


def department_router(deps: DepartmentNotices) -> APIRouter:
    """The /v1/department routes of notices, checks and findings."""
    router = APIRouter(tags=["department 部门"])

    @router.get("/v1/department/notices", summary="Joint-punishment notices sent to me")
    def list_notices(authorization: Auth = None, open: bool = False) -> dict[str, Any]:
        department = deps.department(authorization)
        rows = deps.notices(department, open)
        return jsonable_encoder(
            {"department": department.code, "count": len(rows), "notices": rows}
        )

    @router.get("/v1/department/notices/{nid}", summary="One notice sent to me")
    def get_notice(nid: str, authorization: Auth = None) -> dict[str, Any]:
        return jsonable_encoder(deps.notice(deps.department(authorization), nid))

    @router.post(
        "/v1/department/notices/{nid}/feedback",
        summary="Acknowledge (响应) or report the measures taken (反馈)",
        status_code=202,
    )
    async def post_feedback(
        nid: str,
        stage: Annotated[str, Body(embed=True, description="responded/响应 or fed_back/反馈")],
        measures: Annotated[str | None, Body(embed=True)] = None,
        feedback_on: Annotated[dt.date | None, Body(embed=True)] = None,
        authorization: Auth = None,
    ) -> dict[str, Any]:
        department = deps.department(authorization)
        if not department.may_submit("notice_feedback"):
            raise api_error(
                403,
                "category_not_allowed",
                f"本部门（{department.name}）未获准报送联合惩戒反馈（notice_feedback）",
            )
        if stage.strip() not in STAGES:
            raise api_error(
                400,
                "invalid_stage",
                f"stage（反馈阶段）{stage!r} 无效：应为 responded/响应 或 fed_back/反馈",
            )
        if STAGES[stage.strip()] == "fed_back" and not (measures or "").strip():
            raise api_error(400, "measures_required", "反馈阶段须填写 measures（已采取的惩戒措施）")
        notice = await run_in_threadpool(deps.notice, department, nid)
        on = feedback_on or china_date(dt.datetime.now(dt.UTC))
        record = feedback_record(notice, STAGES[stage.strip()], measures, on)
        result = await run_in_threadpool(deps.answer, department, [record])
        [outcome] = result["results"]
        if outcome.get("status") != "accepted":
            raise api_error(400, "feedback_refused", "反馈未被接收", results=result["results"])
        return {
            "notice_id": notice["notice_id"],
            "stage": STAGES[stage.strip()],
            "event_id": outcome["event_id"],
            "duplicate": outcome["duplicate"],
            "notice": jsonable_encoder(notice),
        }

    @router.get(
        "/v1/department/check/{code}",
        summary="Before a licence, funds or a tender: the measures in force that I apply",
    )
    async def check(code: str, authorization: Auth = None, purpose: str = "other") -> Any:
        department = deps.department(authorization)
        if purpose not in PURPOSES:
            raise api_error(
                400, "invalid_purpose", f"purpose {purpose!r} 无效：应为 {', '.join(PURPOSES)}"
            )
        _, normalised = parse_entity_code(code)
        profile = await run_in_threadpool(deps.reader.profile, normalised)
        if profile is None:
            raise api_error(404, "not_found", f"未找到代码为 {normalised} 的企业")
        mine = department_code(department.name)
        restrictions = restrictions_applied_by(profile, mine)
        red = [i for i in profile.get("items", {}).get("red_list", []) if i.get("status") in
               PUBLIC_STATUSES]  # fmt: skip
        today = china_date(dt.datetime.now(dt.UTC))
        responses: list[dict[str, Any]] = []
        if restrictions:
            # Each check is this department's 响应 to the notices it concerns.
            records = [
                feedback_record(
                    {
                        "uscc": profile["uscc"],
                        "canonical_name": profile["name"],
                        "notice_id": r["notice_id"],
                        "department_name": department.name,
                    },
                    "responded",
                    f"办理{PURPOSES[purpose]}前核查，已知悉限制措施",
                    today,
                )
                for r in restrictions
            ]
            result = await run_in_threadpool(deps.answer, department, records)
            responses = [
                {"notice_id": r["notice_id"], "event_id": o.get("event_id"),
                 "status": o.get("status")}
                for r, o in zip(restrictions, result["results"], strict=True)
            ]  # fmt: skip
        return jsonable_encoder(
            {
                "uscc": profile["uscc"],
                "name": profile["name"],
                "department": department.code,
                "purpose": purpose,
                "restricted": bool(restrictions),
                "restrictions": [
                    {**r, "measures_expected": measures_expected(mine)} for r in restrictions
                ],
                "incentives": [
                    {
                        "item_id": i["item_id"],
                        "honour_name": i["payload"].get("honour_name"),
                        "measures": INCENTIVES,
                    }
                    for i in red
                ],
                "recorded_responses": responses,
            }
        )

    @router.get("/v1/department/findings", summary="查错查重 findings on what I registered")
    def findings(authorization: Auth = None, status: str | None = None) -> dict[str, Any]:
        department = deps.department(authorization)
        if status not in (None, "open", "resolved"):
            raise api_error(400, "invalid_status", f"status {status!r} 无效：应为 open 或 resolved")
        where = f" AND status = '{status}'" if status else ""
        rows = deps.query(
            f"SELECT {', '.join(FINDING_COLUMNS)} FROM v_findings "
            f"WHERE department_code = '{_sql_code(department.code)}'{where} "
            f"ORDER BY detected_at DESC LIMIT {MAX_LISTED}"
        )
        for row in rows:
            row["reason_text"] = FINDING_REASONS.get(row["reason"], row["reason"])
        return jsonable_encoder(
            {"department": department.code, "count": len(rows), "findings": rows}
        )

    return router


def _sql_code(code: str) -> str:
    # Department codes are checked on load ([a-z0-9][a-z0-9_.-]*); checked again here since
    # the value is put into SQL.
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", code):
        raise api_error(400, "invalid_department", "部门代码无效")
    return code
