"""The HTTP server: one FastAPI app for the public API and page, analytics, intake and health.

`create_http_app(HttpDeps(...))` builds it from what it needs — the publicity reader, an
analytics query callable, the intake handler and a health callable — so tests build it over
real Redis and chdb, and `creditsync run` composes it from the settings.

Every JSON or text response passes through `PersonalIdGuard`, which masks any full resident
ID number that slipped through (DOMAIN.md "Privacy": ID numbers never in full). The stores
should never hold one; the guard is the last line, and it counts what it had to mask.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from clickhouse_connect.driver import exceptions as ch_errors
from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditsync.health import ServiceCheck
from creditsync.operator_token import token_matches
from creditsync.security_headers import SecurityHeaders
from creditsync.ttl_cache import TtlCache
from schemas.personal_ids import contains_resident_id, mask_resident_ids
from sinks.errors import QueryLimitExceeded, ReadOnlyQueryRefused, clickhouse_error_code
from sinks.publicity.api import PublicityReaderLike, api_error, public_router

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "sinks" / "publicity" / "static"

# The dashboard views of sinks/clickhouse (migration m0002_views); only these may be read by
# name, so a view name in a URL never becomes SQL of the caller's choosing.
DASHBOARD_VIEWS: tuple[str, ...] = (
    "v_daily_volume",
    "v_timeliness",
    "v_control_totals",
    "v_rejections_by_reason",
    "v_parked_by_reason",
    "v_restrictions_by_region",
    "v_open_notices_by_age",
    "v_overdue_feedback",
    "v_findings_by_reason",
    # Migration 8: monthly indicators, department scorecards, legacy-code conversion.
    "v_monthly_indicators",
    "v_monthly_records",
    "v_department_scorecard",
    "v_conversion_progress",
)
# Views with a `month` column (YYYY-MM), which `?month=` filters.
MONTHLY_VIEWS = frozenset({"v_monthly_indicators", "v_monthly_records", "v_department_scorecard"})
# A month this century: the only text that reaches the SQL, and a bound on cache keys.
_MONTH = re.compile(r"^20\d\d-(0[1-9]|1[0-2])$")
VIEW_FORMATS = ("json", "csv", "xlsx")
MAX_ANALYTICS_ROWS = 10_000
# The views are public (the dashboard page reads them without a token): each is computed at
# most once per this many seconds, whoever asks (creditsync/ttl_cache.py).
VIEW_CACHE_SECONDS = 10.0
CH_READONLY = 164  # ClickHouse error READONLY: the server refused a write under readonly=1


class QueryResultLike(Protocol):
    columns: list[str]
    rows: list[tuple[Any, ...]]


# Runs one read-only SQL statement (sinks.clickhouse.run_readonly_query over a client).
AnalyticsQuery = Callable[[str], QueryResultLike]
HealthCheck = Callable[[], Sequence[ServiceCheck]]


@dataclass(frozen=True)
class HttpDeps:
    """What the HTTP server needs; each part optional but the reader."""

    reader: PublicityReaderLike
    analytics: AnalyticsQuery | None = None
    # producers.http_intake.HttpIntake; typed loosely so the public API needs no Kafka.
    intake: Any | None = None
    health: HealthCheck = field(default=lambda: ())
    # SHA-256 of the operator token that POST /v1/analytics/sql asks for (operator_token.py).
    operator_token_sha256: str | None = None
    # What /metrics renders: `run` passes its children's metrics merged in (child_metrics.py).
    metrics_registry: Any | None = None
    title: str = "creditsync — 信用信息公示查询"


HTTP_REQUESTS = Counter(
    "creditsync_http_requests_total", "HTTP requests by route and status", ["route", "status"]
)
HTTP_SECONDS = Histogram(
    "creditsync_http_request_seconds", "HTTP request duration by route", ["route"]
)
PERSONAL_IDS_MASKED = Counter(
    "creditsync_http_personal_ids_masked_total",
    "Responses in which the guard had to mask a full resident ID number (an upstream bug)",
)

# --- the personal-data guard ------------------------------------------------------------------

# Values the system itself generates as hex or digits, never from a department's text: a
# version ends in the hex of its event id, whose digit runs can pass the ID check by chance.
SYSTEM_KEYS = frozenset({"version", "event_id", "schema_fingerprint", "request_id"})


def guard_personal_ids(value: Any) -> Any:
    """A JSON value with every full resident ID masked, in keys, strings and numbers
    (values of the system-generated SYSTEM_KEYS excepted)."""
    if isinstance(value, str):
        return mask_resident_ids(value)
    if isinstance(value, dict):
        return {
            guard_personal_ids(k): v
            if k in SYSTEM_KEYS and isinstance(v, str)
            else guard_personal_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [guard_personal_ids(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        # An ID sent as a JSON number cannot be masked in place: it becomes a masked string.
        masked = mask_resident_ids(str(value))
        return value if masked == str(value) else masked
    return value


def _escaped_id(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return contains_resident_id(json.dumps(value, ensure_ascii=False))


def guard_body(body: bytes, content_type: str) -> bytes:
    """A response body with full resident IDs masked; unchanged (same object) when clean."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    is_json = content_type.startswith("application/json")
    # JSON may write characters as backslash-u escapes (zero-width space, full-width digits),
    # which only the decoded strings show.
    if not contains_resident_id(text) and not (is_json and "\\u" in text and _escaped_id(text)):
        return body
    guarded = mask_resident_ids(text)
    if is_json:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        else:
            clean = guard_personal_ids(value)
            if clean == value:
                return body  # the match was inside a system value (SYSTEM_KEYS)
            guarded = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
    PERSONAL_IDS_MASKED.inc()
    log.error("a response carried a full resident ID number; masked by the guard")
    return guarded.encode("utf-8")


class PersonalIdGuard:
    """ASGI middleware: buffers JSON and text responses and passes them through guard_body.

    Pure ASGI rather than BaseHTTPMiddleware, so it wraps error responses and exception
    handlers too, and fixes Content-Length when masking changed the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD":
            # A HEAD response has no body to guard; its Content-Length must stay as it is.
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        content_type = ""

        async def guarded_send(message: Message) -> None:
            nonlocal start, content_type
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                content_type = headers.get(b"content-type", b"").decode("latin-1")
                if content_type.startswith(("application/json", "text/")):
                    start = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = guard_body(b"".join(chunks), content_type)
                headers = [
                    (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
                ]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, guarded_send)


class RequestMetrics:
    """ASGI middleware: request count and duration by route template (not raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(route, str(status)).inc()
            HTTP_SECONDS.labels(route).observe(time.perf_counter() - began)


# --- analytics --------------------------------------------------------------------------------


def view_name(name: str) -> str:
    """The dashboard view a URL names (with or without its `v_`), or a 404 listing them."""
    candidate = name if name.startswith("v_") else f"v_{name}"
    if candidate not in DASHBOARD_VIEWS:
        raise api_error(
            404,
            "unknown_view",
            f"no dashboard view {name!r}; the views are {', '.join(DASHBOARD_VIEWS)}",
        )
    return candidate


def check_view_query(name: str, fmt: str, month: str | None) -> None:
    """400 for a format other than json, csv, xlsx, or a month that is not YYYY-MM of a
    monthly view."""
    if fmt not in VIEW_FORMATS:
        raise api_error(400, "unknown_format", f"format={fmt!r}: expected json, csv or xlsx")
    if month is None:
        return
    if name not in MONTHLY_VIEWS:
        raise api_error(
            400, "no_month", f"{name} has no month; ?month= applies to {sorted(MONTHLY_VIEWS)}"
        )
    if not _MONTH.match(month):
        raise api_error(400, "invalid_month", f"month={month!r}: expected YYYY-MM, e.g. 2026-11")


def view_download(
    name: str, month: str | None, fmt: str, columns: list[str], rows: list[list[Any]]
) -> Response:
    """The rows as a CSV or XLSX attachment (formula-safe, creditsync/reports/export.py)."""
    from creditsync.reports.export import (
        CSV_MEDIA_TYPE,
        XLSX_MEDIA_TYPE,
        Sheet,
        csv_bytes,
        xlsx_bytes,
    )

    sheet = Sheet(name, columns, rows)
    filename = f"{name}-{month}.{fmt}" if month else f"{name}.{fmt}"
    if fmt == "csv":
        body, media = csv_bytes(sheet), CSV_MEDIA_TYPE
    else:
        body, media = xlsx_bytes([sheet]), XLSX_MEDIA_TYPE
    disposition = f'attachment; filename="{filename}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


def _operator_only(deps: HttpDeps) -> Callable[..., None]:
    """A dependency admitting requests with `Authorization: Bearer <operator token>`."""

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if deps.operator_token_sha256 is None:
            raise api_error(
                503, "operator_token_unset", "this server has no operator token configured"
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(
            token.strip(), deps.operator_token_sha256
        ):
            raise api_error(
                401,
                "operator_token_required",
                "this endpoint needs the operator token: Authorization: Bearer "
                "<CREDITSYNC_OPERATOR_TOKEN>",
            )

    return check


def _run_analytics(deps: HttpDeps, lock: threading.Lock, sql: str) -> dict[str, Any]:
    if deps.analytics is None:
        raise api_error(
            503,
            "analytics_unavailable",
            "this server has no ClickHouse connection; query the process that owns it",
        )
    try:
        # Embedded chdb runs one query at a time per process; the lock keeps the thread
        # pool's concurrent requests from meeting inside it.
        with lock:
            result = deps.analytics(sql)
    except ReadOnlyQueryRefused as exc:
        raise api_error(403, "not_read_only", str(exc)) from None
    except QueryLimitExceeded as exc:
        raise api_error(400, "query_limit_exceeded", str(exc), limit=exc.limit) from None
    except ch_errors.OperationalError as exc:
        raise api_error(
            503, "clickhouse_unavailable", f"ClickHouse did not answer: {exc}"
        ) from None
    except ch_errors.DatabaseError as exc:
        if clickhouse_error_code(exc) == CH_READONLY:
            raise api_error(403, "not_read_only", f"refused by ClickHouse: {exc}") from None
        raise api_error(400, "query_failed", f"ClickHouse refused the query: {exc}") from None
    rows = jsonable_encoder([list(row) for row in result.rows])
    return {"columns": list(result.columns), "rows": rows, "row_count": len(rows)}


# What the dashboard shows (无法读取：<message>) when a view fails; ClickHouse's English
# message stays in `detail` for the operator.
_VIEW_FAILURES = {
    "analytics_unavailable": "本服务未连接分析库（ClickHouse）",
    "clickhouse_unavailable": "分析库（ClickHouse）暂未响应，请稍后再试",
    "query_limit_exceeded": "查询超出了分析查询的限制，请联系运维人员",
}


def _read_view(
    deps: HttpDeps, lock: threading.Lock, name: str, month: str | None = None
) -> dict[str, Any]:
    where = f" WHERE month = '{month}'" if month else ""  # month: checked against _MONTH
    try:
        return _run_analytics(deps, lock, f"SELECT * FROM {name}{where} LIMIT {MAX_ANALYTICS_ROWS}")
    except HTTPException as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        error = str(detail.get("error", "query_failed"))
        reason = _VIEW_FAILURES.get(error, "查询失败")
        raise api_error(
            exc.status_code, error, f"看板视图 {name}：{reason}", detail=detail.get("message")
        ) from None


def department_notices_router(deps: HttpDeps, lock: threading.Lock) -> Any:
    """The receiving departments' routes (creditsync/department_notices.py)."""
    from creditsync.department_notices import DepartmentNotices, department_router

    return department_router(DepartmentNotices(deps.intake, deps.analytics, deps.reader, lock))


# --- the app ----------------------------------------------------------------------------------


def _error_body(exc: HTTPException) -> dict[str, Any]:
    if isinstance(exc.detail, dict):
        return exc.detail
    return {"error": f"http_{exc.status_code}", "message": str(exc.detail)}


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append({"where": where, "problem": error.get("msg", "invalid")})
    text = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
    return text or "the request is not valid", problems


def create_http_app(deps: HttpDeps) -> FastAPI:
    """The FastAPI app: public API and pages, analytics, intake (when given), health, metrics."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # The app owns the intake handler: its Kafka producer is flushed and closed here.
        if deps.intake is not None:
            deps.intake.close()

    app = FastAPI(
        lifespan=lifespan,
        title=deps.title,
        description="Public credit profiles of enterprises by USCC, registration number or "
        "organisation code; the public lists; analytics views; department intake.",
        version="1",
    )
    analytics_lock = threading.Lock()
    view_cache: TtlCache[dict[str, Any]] = TtlCache(
        VIEW_CACHE_SECONDS, keep_errors=(HTTPException,)
    )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(_error_body(exc), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, problems = _validation_message(exc)
        return JSONResponse(
            {"error": "invalid_request", "message": message, "problems": problems},
            status_code=400,
        )

    app.include_router(public_router(deps.reader))
    if deps.intake is not None:
        from producers.http_intake import intake_router

        app.include_router(intake_router(deps.intake))
        # A department's own view (issue #16): 对账, refusals, parked, uploads, /department.
        from creditsync.department.router import department_router

        app.include_router(department_router(deps.intake.departments, deps.analytics and (
            lambda sql: _run_analytics(deps, analytics_lock, sql)), deps.intake))  # fmt: skip
        app.include_router(department_notices_router(deps, analytics_lock))

    @app.get("/v1/analytics/views/{view}", tags=["analytics"], summary="Rows of a dashboard view")
    def analytics_view(
        view: str,
        limit: int = MAX_ANALYTICS_ROWS,
        fmt: Annotated[str, Query(alias="format", description="json | csv | xlsx")] = "json",
        month: Annotated[str | None, Query(description="YYYY-MM (monthly views)")] = None,
    ) -> Any:
        name = view_name(view)
        limit = max(1, min(limit, MAX_ANALYTICS_ROWS))
        check_view_query(name, fmt, month)
        # Always the first MAX_ANALYTICS_ROWS rows, cut here: a caller varying `limit`
        # does not make a new query.
        body = view_cache.get((name, month), lambda: _read_view(deps, analytics_lock, name, month))
        rows = body["rows"][:limit]
        if fmt != "json":
            return view_download(name, month, fmt, body["columns"], rows)
        return {"view": name, "columns": body["columns"], "rows": rows, "row_count": len(rows)}

    @app.post(
        "/v1/analytics/sql",
        tags=["analytics"],
        summary="One read-only SQL query (operator token)",
        dependencies=[Depends(_operator_only(deps))],
    )
    def analytics_sql(
        sql: Annotated[
            str, Body(embed=True, description="One SELECT (WITH, UNION, JOIN, subqueries)")
        ],
    ) -> dict[str, Any]:
        return _run_analytics(deps, analytics_lock, sql)

    @app.get("/healthz", tags=["operations"], summary="Kafka, Redis and ClickHouse checks")
    def healthz() -> JSONResponse:
        checks = list(deps.health())
        healthy = all(check.ok for check in checks)
        body = {
            "status": "ok" if healthy else "unavailable",
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    def metrics() -> Response:
        registry = deps.metrics_registry if deps.metrics_registry is not None else REGISTRY
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Added last = outermost: the guard sees every response, error handlers' included.
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, no framing (security_headers.py)
    app.add_middleware(RequestMetrics)
    app.add_middleware(PersonalIdGuard)
    return app


__all__ = [
    "DASHBOARD_VIEWS",
    "SYSTEM_KEYS",
    "AnalyticsQuery",
    "HealthCheck",
    "HttpDeps",
    "PersonalIdGuard",
    "create_http_app",
    "guard_body",
    "guard_personal_ids",
    "mask_resident_ids",
]
