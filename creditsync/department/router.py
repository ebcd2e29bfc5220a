"""`/v1/department/…` and the page `/department`: what one department sent, what was refused
and why, what waits on it; the corrected file uploaded again (issue #16).

A department is its bearer token (producers.departments.DepartmentDirectory.authenticate);
every query is filtered by its own code, so it never sees another's rows: an id of another
department's refusal is 404, a category it may not submit is 403. Messages are Chinese
unless the caller asks for English (Accept-Language: en).
"""


import datetime as dt
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse, Response

from creditsync.department.workbook import refusals_workbook
from producers.departments import DepartmentAccess, DepartmentDirectory
from schemas.categories import CATEGORIES, category_spec
from schemas.errors import CreditSyncError
from schemas.reasons import Lang, explain, field_label, language, record_label
from sinks.publicity.api import api_error

# Runs one read-only SELECT; the body {"columns", "rows"} (creditsync.http._run_analytics).
Query_ = Callable[[str], dict[str, Any]]
MAX_ROWS = 5000
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")
STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "sinks" / "publicity" / "static"

_TEXT: dict[str, dict[Lang, str]] = {
    "unauthorised": {"zh": "需要有效的部门令牌：Authorization: Bearer <令牌>",
                     "en": "a valid department token is required: Authorization: Bearer <token>"},
    "category": {"zh": "本部门无权报送或查看类别 {c}；可用的类别：{allowed}",
                 "en": "this department may not submit or see category {c}; it may use: {allowed}"},
    "unknown_category": {"zh": "没有类别 {c}；应为：{allowed}", "en": "no category {c}; expected one of {allowed}"},  # noqa: E501
    "no_refusal": {"zh": "本部门没有编号为 {id} 的退回记录", "en": "this department has no refusal {id}"},  # noqa: E501
    "bad_date": {"zh": "日期 {v} 无效；应为 2024-03-07 这样的日期", "en": "date {v} is not valid; expected e.g. 2024-03-07"},  # noqa: E501
    "no_intake": {"zh": "本服务未配置报送（部门与令牌），不能上传文件", "en": "this server has no intake configured"},  # noqa: E501
    "too_large": {"zh": "上传的文件超过 {n} 字节的上限", "en": "the upload is over the limit of {n} bytes"},  # noqa: E501
    "bad_file": {"zh": "文件无法按模板读取：{e}", "en": "the file cannot be read as a template: {e}"},  # noqa: E501
    "bad_declared": {"zh": "申报条数（X-Declared-Count）应为不小于 0 的整数，收到 {v}",
                     "en": "X-Declared-Count must be a whole number ≥ 0, got {v}"},
}  # fmt: skip


def _say(lang: Lang, key: str, **values: Any) -> str:
    return _TEXT[key][lang].format(**values)


def _lang(request: Request) -> Lang:
    return language(request.headers.get("accept-language"))


def _day(value: str | None, lang: Lang) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise api_error(400, "invalid_date", _say(lang, "bad_date", v=value)) from None


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def department_router(
    departments: DepartmentDirectory, query: Query_ | None, intake: Any | None = None
) -> APIRouter:
    """The department routes over the directory of departments, a ClickHouse query and (for
    uploads) the HTTP intake's publisher and ledger."""
    router = APIRouter(tags=["department 部门"])

    def me(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> DepartmentAccess:
        scheme, _, token = (authorization or "").partition(" ")
        found = departments.authenticate(token.strip() if scheme.lower() == "bearer" else None)
        if found is None:
            raise api_error(401, "unauthorised", _say(_lang(request), "unauthorised"))
        return found

    Me = Annotated[DepartmentAccess, Depends(me)]

    def own_category(department: DepartmentAccess, category: str | None, lang: Lang) -> None:
        if category is None:
            return
        allowed = ", ".join(sorted(department.categories))
        if category not in CATEGORIES:
            every = ", ".join(CATEGORIES)
            raise api_error(404, "unknown_category",
                            _say(lang, "unknown_category", c=category, allowed=every))  # fmt: skip
        if not department.may_submit(category):
            raise api_error(403, "category_not_allowed",
                            _say(lang, "category", c=category, allowed=allowed))  # fmt: skip

    def read(sql: str) -> list[dict[str, Any]]:
        if query is None:
            raise api_error(503, "analytics_unavailable", "本服务未连接分析库（ClickHouse）")
        return _rows(query(sql))

    def where(department: DepartmentAccess, category: str | None) -> str:
        # Codes are [a-z0-9_.-] (producers.departments) and categories come from CATEGORIES:
        # neither can close the quotes.
        clause = f"department_code = '{department.code}'"
        return clause + (f" AND category = '{category}'" if category else "")

    @router.get("/v1/department/me", summary="The department of the token")
    def who(department: Me, request: Request) -> dict[str, Any]:
        lang = _lang(request)
        return {
            "code": department.code,
            "name": department.name,
            "categories": [
                {"category": c, "name": category_spec(c).chinese if lang == "zh" else c}
                for c in sorted(department.categories)
            ],
        }

    @router.get("/v1/department/reconciliation", summary="对账 per day and category")
    def reconciliation(
        department: Me,
        request: Request,
        category: str | None = None,
        day_from: Annotated[str | None, Query(alias="from")] = None,
        day_to: Annotated[str | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        lang = _lang(request)
        own_category(department, category, lang)
        clause = where(department, category)
        if (start := _day(day_from, lang)) is not None:
            clause += f" AND day >= '{start.isoformat()}'"
        if (end := _day(day_to, lang)) is not None:
            clause += f" AND day <= '{end.isoformat()}'"
        rows = read(
            f"SELECT day, category, declared, received, duplicates, published, refused, parked, "
            f"difference, unaccounted, batches FROM v_department_reconciliation WHERE {clause} "
            f"ORDER BY day DESC, category LIMIT {MAX_ROWS}"
        )
        for row in rows:
            row["category_name"] = category_spec(row["category"]).chinese
            # Highlighted on the page: a count the department declared but we did not get,
            # or records received that are nowhere now.
            row["mismatch"] = bool(row["difference"]) or bool(row["unaccounted"])
        return {"department": department.code, "name": department.name, "rows": rows}

    def refusal_rows(department: DepartmentAccess, clause: str, lang: Lang) -> list[dict[str, Any]]:
        rows = read(
            "SELECT rejection_id, event_id, category, reason_code, reason, field, stage, "
            "record_ref, record_key, value, fields_json, emitted_at, rejected_at, closed, "
            f"closed_at FROM v_department_refusals WHERE {where(department, None)}{clause} "
            f"ORDER BY rejected_at DESC LIMIT {MAX_ROWS}"
        )
        for row in rows:
            category = row["category"]
            row["reason_text"] = explain(
                row["reason_code"], lang=lang, category=category, field=row["field"],
                value=row["value"], record_ref=row["record_ref"], record_key=row["record_key"],
                detail=row["reason"],
            )  # fmt: skip
            row["record_ref_label"] = record_label(row["record_ref"], "", category, lang)
            row["field_label"] = field_label(category, row["field"], lang) if row["field"] else ""
            row["category_name"] = category_spec(category).chinese
            row["status"] = "closed" if row["closed"] else "open"
        return rows

    def status_clause(status: str) -> str:
        return {"open": " AND NOT closed", "closed": " AND closed"}.get(status, "")

    @router.get("/v1/department/refusals", summary="Every refusal, from every stage")
    def refusals(
        department: Me,
        request: Request,
        category: str | None = None,
        status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    ) -> dict[str, Any]:
        lang = _lang(request)
        own_category(department, category, lang)
        clause = status_clause(status) + (f" AND category = '{category}'" if category else "")
        rows = refusal_rows(department, clause, lang)
        for row in rows:
            row.pop("fields_json", None)
        return {"department": department.code, "status": status, "rows": rows}

    @router.get("/v1/department/refusals.xlsx", summary="Refused rows in the national template")
    def refusals_xlsx(
        department: Me,
        request: Request,
        category: str,
        status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    ) -> Response:
        lang = _lang(request)
        own_category(department, category, lang)
        clause = status_clause(status) + f" AND category = '{category}'"
        rows = refusal_rows(department, clause, lang)
        body = refusals_workbook(category, rows)
        name = f"{department.code}-{category}-refused.xlsx"
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/v1/department/refusals/{rejection_id}", summary="One refusal of this department")
    def refusal(department: Me, request: Request, rejection_id: str) -> dict[str, Any]:
        lang = _lang(request)
        # The id is compared as a literal with its quotes and backslashes escaped.
        literal = rejection_id.replace("\\", "\\\\").replace("'", "\\'")
        rows = refusal_rows(department, f" AND rejection_id = '{literal}'", lang)
        if not rows:
            # Another department's refusal is not found either: no hint that it exists.
            raise api_error(404, "not_found", _say(lang, "no_refusal", id=rejection_id))
        return rows[0]

    @router.get("/v1/department/parked", summary="Records waiting for a registration")
    def parked(department: Me, request: Request, category: str | None = None) -> dict[str, Any]:
        lang = _lang(request)
        own_category(department, category, lang)
        rows = read(
            "SELECT event_id, category, subject_code, reason_code, emitted_at, age_days, "
            f"age_hours FROM v_department_parked WHERE {where(department, category)} "
            f"ORDER BY emitted_at LIMIT {MAX_ROWS}"
        )
        for row in rows:
            row["reason_text"] = explain(
                row["reason_code"], lang=lang, category=row["category"],
                value=row["subject_code"],
            )  # fmt: skip
        return {"department": department.code, "rows": rows}

    @router.post("/v1/department/uploads", summary="A template file (corrected refusals too)")
    async def upload(
        department: Me,
        request: Request,
        filename: str = "upload.xlsx",
        category: str | None = None,
        x_declared_count: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        from fastapi.concurrency import run_in_threadpool

        lang = _lang(request)
        own_category(department, category, lang)
        if intake is None:
            raise api_error(503, "intake_unavailable", _say(lang, "no_intake"))
        declared = (x_declared_count or "").strip()
        if declared and not declared.isdigit():
            raise api_error(400, "invalid_declared_count", _say(lang, "bad_declared", v=declared))
        body = await request.body()
        if len(body) > MAX_UPLOAD_BYTES:
            raise api_error(413, "upload_too_large", _say(lang, "too_large", n=MAX_UPLOAD_BYTES))
        name = _SAFE_NAME.sub("_", Path(filename).name) or "upload.xlsx"
        return await run_in_threadpool(
            _ingest_upload, intake, department, name, body, category, declared or None, lang
        )

    @router.get("/department", include_in_schema=False)
    def department_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "department.html", media_type="text/html; charset=utf-8")

    return router


def _ingest_upload(
    intake: Any,
    department: DepartmentAccess,
    name: str,
    body: bytes,
    category: str | None,
    declared: str | None,
    lang: Lang,
) -> dict[str, Any]:
    """The upload ingested as `creditsync ingest` would: same event ids for the same rows."""
    from producers.errors import CategoryNotAllowed
    from producers.ingest import ingest_file

    with tempfile.TemporaryDirectory(prefix="creditsync-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(body)
        if declared is not None:
            path.with_name(name + ".total").write_text(declared, encoding="utf-8")
        try:
            summary = ingest_file(
                path, department.department, publisher=intake.publisher, ledger=intake.ledger,
                category=category, topic_prefix=intake.topic_prefix,  # type: ignore[arg-type]
                check_category=department.check,
            )  # fmt: skip
        except CategoryNotAllowed as exc:
            raise api_error(403, "category_not_allowed", str(exc)) from None
        except (CreditSyncError, ValueError) as exc:
            raise api_error(400, "invalid_file", _say(lang, "bad_file", e=exc)) from None
    return {
        "department": department.code,
        "file": name,
        "category": summary.category,
        "declared": summary.declared,
        "read": summary.read,
        "published": summary.published,
        "already_published": summary.already_published,
        "rejected": summary.rejected,
        "rejected_by_reason": dict(summary.rejected_by_reason),
    }
